import { readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import {
  CacheEntryError,
  decodeEntry,
  encodeEntry,
  encodedEntryBytes,
  ENTRY_FORMAT_VERSION,
  isExpired,
  makeEntry,
} from '../../../src/cache';

/** cli_nocomp_select_types (18.16, rev 54412): the result packets are s2c @30..@1248 (header block, data, ProfileInfo)
 *  and @1252..@1264 (the final empty Data); Progress @1248 is not stored, EndOfStream @1264 neither (decoded.txt). */
const S2C = readFileSync(join(__dirname, '../../fixtures/vectors/captures-18.16/cli_nocomp_select_types/conn1.s2c.bin'));
const RESULT = Buffer.concat([S2C.subarray(30, 1248), S2C.subarray(1252, 1264)]);

const entry = makeEntry({ createdAt: 1_700_000_000_123, ttlMs: 60_000, tables: ['default.t', 'db.ünï'], revision: 54412, packets: RESULT });

describe('cache entry', () => {
  it('round-trips real server packets, and bytes is the encoded size', () => {
    const b = encodeEntry(entry);
    expect(b.subarray(0, 4).toString('latin1')).toBe('GHCE');
    expect(b.readUInt16LE(4)).toBe(ENTRY_FORMAT_VERSION);
    expect(b.length).toBe(entry.bytes);
    expect(entry.bytes).toBe(encodedEntryBytes(entry.tables, RESULT.length));
    const d = decodeEntry(b);
    expect(d).toEqual({ ...entry, packets: expect.any(Buffer) });
    expect(d.packets.equals(RESULT)).toBe(true);
    expect(d.packets[0]).toBe(1); // ServerCode.Data: the header block comes first
  });

  it('round-trips arbitrary entries', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 48 - 1 }),
        fc.nat({ max: 2 ** 48 - 1 }),
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 6 }),
        fc.nat({ max: 2 ** 32 - 1 }),
        fc.uint8Array({ maxLength: 300 }),
        (createdAt, ttlMs, tables, revision, packets) => {
          const e = makeEntry({ createdAt, ttlMs, tables, revision, packets: Buffer.from(packets) });
          const d = decodeEntry(encodeEntry(e));
          expect({ ...d, packets: [...d.packets] }).toEqual({ ...e, packets: [...packets] });
        },
      ),
    );
  });

  it('rejects every strict prefix as truncated', () => {
    const b = encodeEntry(makeEntry({ ...entry, packets: RESULT.subarray(0, 40) }));
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
    const reason = (buf: Buffer): string => {
      try {
        decodeEntry(buf);
      } catch (e) {
        expect(e).toBeInstanceOf(CacheEntryError);
        expect((e as CacheEntryError).code).toBe('ERR_CACHE_ENTRY');
        return (e as CacheEntryError).reason;
      }
      return 'accepted';
    };
    const v2 = Buffer.from(b);
    v2.writeUInt16LE(ENTRY_FORMAT_VERSION + 1, 4);
    expect(reason(v2)).toBe('version');
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

  it('refuses to encode what it could not decode', () => {
    expect(() => encodeEntry({ ...entry, version: 2 })).toThrow(CacheEntryError);
    expect(() => encodeEntry({ ...entry, ttlMs: -1 })).toThrow(CacheEntryError);
    expect(() => encodeEntry({ ...entry, createdAt: 1.5 })).toThrow(CacheEntryError);
    expect(() => encodeEntry({ ...entry, tables: ['x'.repeat(5000)] })).toThrow(CacheEntryError);
  });

  it('expires at createdAt + ttlMs', () => {
    expect(isExpired(entry, entry.createdAt + 59_999)).toBe(false);
    expect(isExpired(entry, entry.createdAt + 60_000)).toBe(true);
  });
});
