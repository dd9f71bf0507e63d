import { readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import {
  CacheEntryError,
  decodeEntry,
  encodeEntry,
  encodedEntryBytes,
  entryPackets,
  ENTRY_FORMAT_VERSION,
  isExpired,
  makeEntry,
  type Entry,
} from '../../../src/cache';

/** cli_nocomp_select_types (18.16, rev 54412): the result packets are s2c @30..@1248 (header block, data, ProfileInfo)
 *  and @1252..@1264 (the final empty Data); Progress @1248 is not stored, EndOfStream @1264 neither (decoded.txt). */
const S2C = readFileSync(join(__dirname, '../../fixtures/vectors/captures-18.16/cli_nocomp_select_types/conn1.s2c.bin'));
const RESULT = Buffer.concat([S2C.subarray(30, 1248), S2C.subarray(1252, 1264)]);
/** Packets [30,403) header Data, [403,1240) Data, [1240,1248) ProfileInfo, [1252,1264) final Data, rebased to 0; each
 *  Data block starts after its code byte and empty table name (01 00). */
const INDEX = Uint32Array.of(373, 2, 1210, 375, 1218, 0, 1230, 1220);

const entry = makeEntry({
  createdAt: 1_700_000_000_123,
  ttlMs: 60_000,
  tables: ['default.t', 'db.ünï'],
  revision: 54412,
  packets: RESULT,
  index: INDEX,
});

/** Arbitrary packets (1..40 bytes each) with a block offset or 0, as one packets buffer and its index. */
const arbPackets = fc
  .array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat()), { maxLength: 8 })
  .map((list) => {
    const index = new Uint32Array(list.length * 2);
    let end = 0;
    list.forEach(([bytes, b], i) => {
      const start = end;
      end += bytes.length;
      index[2 * i] = end;
      // Some packets have a block, which starts 2.. bytes into the packet and ends with it.
      index[2 * i + 1] = bytes.length >= 3 && b % 2 === 0 ? start + 2 + (b % (bytes.length - 2)) : 0;
    });
    return { packets: Buffer.concat(list.map(([bytes]) => bytes)), index };
  });

/** The reason of the CacheEntryError decodeEntry throws, or 'accepted'. */
function reason(buf: Buffer): string {
  try {
    decodeEntry(buf);
  } catch (e) {
    expect(e).toBeInstanceOf(CacheEntryError);
    expect((e as CacheEntryError).code).toBe('ERR_CACHE_ENTRY');
    return (e as CacheEntryError).reason;
  }
  return 'accepted';
}

/** Offset of the index in an encoded entry with these tables: header (26 bytes incl. table count), names, count. */
function indexOffset(e: Entry): number {
  return 26 + e.tables.reduce((n, t) => n + 4 + Buffer.byteLength(t), 0) + 4;
}

describe('cache entry', () => {
  it('round-trips real server packets, and bytes is the encoded size', () => {
    const b = encodeEntry(entry);
    expect(b.subarray(0, 4).toString('latin1')).toBe('GHCE');
    expect(b.readUInt16LE(4)).toBe(ENTRY_FORMAT_VERSION);
    expect(b.length).toBe(entry.bytes);
    expect(entry.bytes).toBe(encodedEntryBytes(entry.tables, RESULT.length, 4));
    const d = decodeEntry(b);
    expect(d).toEqual({ ...entry, packets: expect.any(Buffer) });
    expect(d.packets.equals(RESULT)).toBe(true);
    expect(d.packets[0]).toBe(1); // ServerCode.Data: the header block comes first
    expect([...d.index]).toEqual([...INDEX]);
  });

  it('entryPackets gives views of the packets with block offsets relative to each packet', () => {
    const d = decodeEntry(encodeEntry(entry));
    const recs = entryPackets(d);
    const expected = [S2C.subarray(30, 403), S2C.subarray(403, 1240), S2C.subarray(1240, 1248), S2C.subarray(1252, 1264)];
    expect(recs.map((r) => r.blockStart)).toEqual([2, 2, 0, 2]);
    recs.forEach((r, i) => {
      expect(r.bytes.equals(expected[i]!)).toBe(true);
      expect(r.bytes.buffer).toBe(d.packets.buffer); // a view, not a copy
    });
    expect(recs[0]!.bytes.byteOffset).toBe(d.packets.byteOffset);
    expect(entryPackets(makeEntry({ ...entry, packets: Buffer.alloc(0), index: new Uint32Array(0) }))).toEqual([]);
  });

  it('round-trips arbitrary entries', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 48 - 1 }),
        fc.nat({ max: 2 ** 48 - 1 }),
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 6 }),
        fc.nat({ max: 2 ** 32 - 1 }),
        arbPackets,
        (createdAt, ttlMs, tables, revision, { packets, index }) => {
          const e = makeEntry({ createdAt, ttlMs, tables, revision, packets, index });
          const b = encodeEntry(e);
          expect(b.length).toBe(e.bytes);
          const d = decodeEntry(b);
          expect({ ...d, packets: [...d.packets], index: [...d.index] }).toEqual({ ...e, packets: [...packets], index: [...index] });
          // entryPackets tiles the packets and keeps each block inside its packet.
          const recs = entryPackets(d);
          expect(Buffer.concat(recs.map((r) => r.bytes)).equals(packets)).toBe(true);
          for (const r of recs) expect(r.blockStart === 0 || (r.blockStart >= 2 && r.blockStart < r.bytes.length)).toBe(true);
        },
      ),
    );
  });

  it('rejects every strict prefix as truncated', () => {
    const b = encodeEntry(makeEntry({ ...entry, packets: RESULT.subarray(0, 40), index: Uint32Array.of(30, 2, 40, 32) }));
    for (let i = 0; i < b.length; i++) {
      let err: unknown;
      try {
        decodeEntry(b.subarray(0, i));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CacheEntryError);
      expect((err as CacheEntryError).reason).toBe('truncated');
    }
  });

  it('rejects other versions, another magic, trailing bytes and absurd counts', () => {
    const b = encodeEntry(entry);
    const next = Buffer.from(b);
    next.writeUInt16LE(ENTRY_FORMAT_VERSION + 1, 4);
    expect(reason(next)).toBe('version');
    const v1 = Buffer.from(b);
    v1.writeUInt16LE(1, 4); // the layout without an index: a miss, never a misread
    expect(reason(v1)).toBe('version');
    const magic = Buffer.from(b);
    magic[0] = 0x58;
    expect(reason(magic)).toBe('bad_magic');
    expect(reason(Buffer.concat([b, Buffer.of(0)]))).toBe('malformed');
    const tables = Buffer.from(b);
    tables.writeUInt32LE(0xffffffff, 22); // table count
    expect(reason(tables)).toBe('limit');
    const name = Buffer.from(b);
    name.writeUInt32LE(0xffffff, 26); // first table name length
    expect(reason(name)).toBe('limit');
    const packets = Buffer.from(b);
    packets.writeUInt32LE(RESULT.length + 1, b.length - RESULT.length - 4);
    expect(reason(packets)).toBe('truncated');
    const count = Buffer.from(b);
    count.writeUInt32LE(0xffffffff, indexOffset(entry) - 4); // packet count: more pairs than bytes
    expect(reason(count)).toBe('truncated');
  });

  it('rejects bad packet indexes when decoding, encoding and making entries', () => {
    const b = encodeEntry(entry);
    const at = indexOffset(entry);
    /** The encoded entry with index number i (0-based, pairs flattened) replaced by v. */
    const patched = (i: number, v: number): Buffer => {
      const x = Buffer.from(b);
      x.writeUInt32LE(v, at + 4 * i);
      return x;
    };
    expect(reason(patched(0, 373))).toBe('accepted');
    const bad: [number, number, string][] = [
      [0, 0, 'first packet empty'],
      [2, 373, 'second packet empty (end not increasing)'],
      [2, 300, 'ends go back'],
      [6, RESULT.length - 1, 'last end short of the packets'],
      [6, RESULT.length + 1, 'last end past the packets'],
      [4, RESULT.length + 5, 'a middle end past the packets'],
      [1, 1, 'block inside the code byte'],
      [3, 374, 'block right after the previous packet (no room for a code and table name)'],
      [3, 1210, 'block at its packet end (empty block)'],
      [3, 1211, 'block in the next packet'],
      [5, 1218, 'block at the end of the ProfileInfo packet'],
      [7, 1219, 'block one byte into the final Data packet'],
    ];
    for (const [i, v, what] of bad) expect({ what, reason: reason(patched(i, v)) }).toEqual({ what, reason: 'malformed' });
    // A packet count of 0 with packet bytes present: they belong to no packet.
    const noPackets = Buffer.concat([b.subarray(0, at - 4), Buffer.alloc(4), b.subarray(at + INDEX.length * 4)]);
    expect(reason(noPackets)).toBe('malformed');

    const make = (index: Uint32Array, packets = RESULT) => () => makeEntry({ ...entry, packets, index });
    expect(make(Uint32Array.of(373, 2, 1210, 375, 1218, 0))).toThrow(CacheEntryError); // last end short
    expect(make(Uint32Array.of(1230))).toThrow(CacheEntryError); // not pairs
    expect(make(new Uint32Array(0))).toThrow(CacheEntryError);
    expect(make(new Uint32Array(0), Buffer.alloc(0))).not.toThrow();
    expect(() => encodeEntry({ ...entry, index: Uint32Array.of(1230, 1230) })).toThrow(CacheEntryError);
  });

  it('arbitrary bytes throw only CacheEntryError', () => {
    const prefix = encodeEntry(entry).subarray(0, 6);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, withPrefix) => {
        const buf = withPrefix ? Buffer.concat([prefix, Buffer.from(bytes)]) : Buffer.from(bytes);
        try {
          decodeEntry(buf);
        } catch (e) {
          expect(e).toBeInstanceOf(CacheEntryError);
        }
      }),
    );
  });

  it('an index with arbitrary numbers decodes to packets that tile the bytes, or is rejected as malformed', () => {
    fc.assert(
      fc.property(arbPackets, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 1300 })), { minLength: 1, maxLength: 4 }), (pk, edits) => {
        const e = makeEntry({ ...entry, ...pk });
        const b = encodeEntry(e);
        if (pk.index.length === 0) return;
        for (const [i, v] of edits) b.writeUInt32LE(v, indexOffset(e) + 4 * (i % pk.index.length));
        const r = reason(b);
        expect(['accepted', 'malformed']).toContain(r);
        if (r === 'accepted') {
          const recs = entryPackets(decodeEntry(b));
          expect(Buffer.concat(recs.map((x) => x.bytes)).equals(pk.packets)).toBe(true);
          for (const x of recs) expect(x.bytes.length > 0 && (x.blockStart === 0 || (x.blockStart >= 2 && x.blockStart < x.bytes.length))).toBe(true);
        }
      }),
    );
  });

  it('refuses to encode what it could not decode', () => {
    expect(() => encodeEntry({ ...entry, version: 1 })).toThrow(CacheEntryError);
    expect(() => encodeEntry({ ...entry, version: ENTRY_FORMAT_VERSION + 1 })).toThrow(CacheEntryError);
    expect(() => encodeEntry({ ...entry, ttlMs: -1 })).toThrow(CacheEntryError);
    expect(() => encodeEntry({ ...entry, createdAt: 1.5 })).toThrow(CacheEntryError);
    expect(() => encodeEntry({ ...entry, tables: ['x'.repeat(5000)] })).toThrow(CacheEntryError);
  });

  it('expires at createdAt + ttlMs', () => {
    expect(isExpired(entry, entry.createdAt + 59_999)).toBe(false);
    expect(isExpired(entry, entry.createdAt + 60_000)).toBe(true);
  });
});
