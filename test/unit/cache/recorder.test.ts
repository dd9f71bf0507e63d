import { readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import { entryPackets, makeEntry, Recorder } from '../../../src/cache';
import type { RecordedPacket } from '../../../src/protocol';

/** cli_nocomp_select_types (18.16, rev 54412), offsets from conn1.decoded.txt: result packets to record are
 *  [30,403) header Data, [403,1240) Data, [1240,1248) ProfileInfo, [1252,1264) final empty Data; Progress is skipped.
 *  Each Data block starts after the code byte and the empty table name (01 00). */
const S2C = readFileSync(join(__dirname, '../../fixtures/vectors/captures-18.16/cli_nocomp_select_types/conn1.s2c.bin'));
const PACKETS: RecordedPacket[] = [
  { bytes: S2C.subarray(30, 403), blockStart: 2 },
  { bytes: S2C.subarray(403, 1240), blockStart: 2 },
  { bytes: S2C.subarray(1240, 1248), blockStart: 0 },
  { bytes: S2C.subarray(1252, 1264), blockStart: 2 },
];
const RESULT = Buffer.concat(PACKETS.map((p) => p.bytes));
/** What the four packets add to an entry: their bytes and 8 index bytes each. */
const RESULT_ENTRY_BYTES = RESULT.length + 4 * 8;

const entryOf = (r: { packets: Buffer; index: Uint32Array }) =>
  makeEntry({ createdAt: 0, ttlMs: 1000, tables: [], revision: 54412, ...r });

describe('Recorder', () => {
  it('records real packets into one buffer and an index of absolute packet ends and block starts', () => {
    const r = new Recorder(RESULT_ENTRY_BYTES);
    for (const p of PACKETS) expect(r.add(p)).toBe(true);
    expect(r.bytes).toBe(RESULT_ENTRY_BYTES);
    const out = r.finish();
    expect(out).not.toBeNull();
    expect(out!.packets.equals(RESULT)).toBe(true);
    expect([...out!.index]).toEqual([373, 2, 1210, 375, 1218, 0, 1230, 1220]);
    expect(r.abandoned).toBe(false);
    const e = entryOf(out!);
    expect(entryPackets(e).map((p) => [p.bytes.toString('hex'), p.blockStart])).toEqual(
      PACKETS.map((p) => [p.bytes.toString('hex'), p.blockStart]),
    );
  });

  it('any packets come back unchanged through finish, makeEntry and entryPackets', () => {
    const arbPacket = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 50 }), fc.nat())
      .map(([bytes, b]): RecordedPacket => ({
        bytes: Buffer.from(bytes),
        blockStart: bytes.length >= 3 && b % 2 === 0 ? 2 + (b % (bytes.length - 2)) : 0,
      }));
    fc.assert(
      fc.property(fc.array(arbPacket, { maxLength: 10 }), (packets) => {
        const r = new Recorder(1 << 20);
        for (const p of packets) expect(r.add(p)).toBe(true);
        const back = entryPackets(entryOf(r.finish()!));
        expect(back.map((p) => [[...p.bytes], p.blockStart])).toEqual(packets.map((p) => [[...p.bytes], p.blockStart]));
      }),
    );
  });

  it('gives up past the cap (packets plus index), drops what it had, and stays given up', () => {
    const r = new Recorder(RESULT_ENTRY_BYTES - 1);
    const adds = PACKETS.map((p) => r.add(p));
    expect(adds).toEqual([true, true, true, false]);
    expect(r.abandoned).toBe(true);
    expect(r.bytes).toBe(0);
    expect(r.add(PACKETS[2]!)).toBe(false);
    expect(r.finish()).toBeNull();
  });

  it('accepts exactly the cap, counting 8 index bytes per packet', () => {
    const r = new Recorder(18);
    expect(r.add({ bytes: Buffer.alloc(10), blockStart: 0 })).toBe(true);
    expect(r.bytes).toBe(18);
    expect(r.add({ bytes: Buffer.alloc(1), blockStart: 0 })).toBe(false);
  });

  it('rejects packets that cannot be (no bytes, block offset outside the packet)', () => {
    const r = new Recorder(1 << 20);
    expect(() => r.add({ bytes: Buffer.alloc(0), blockStart: 0 })).toThrow(RangeError);
    expect(() => r.add({ bytes: Buffer.alloc(5), blockStart: 5 })).toThrow(RangeError);
    expect(() => r.add({ bytes: Buffer.alloc(5), blockStart: 1 })).toThrow(RangeError);
    expect(r.add({ bytes: Buffer.alloc(5), blockStart: 4 })).toBe(true);
  });

  it('abandon() drops the result (the query failed midway)', () => {
    const r = new Recorder(1 << 20);
    r.add(PACKETS[0]!);
    r.abandon();
    expect(r.abandoned).toBe(true);
    expect(r.finish()).toBeNull();
  });

  it('finish() ends the recording and copies', () => {
    const r = new Recorder(1 << 20);
    const src = Buffer.from(PACKETS[1]!.bytes);
    r.add({ bytes: src, blockStart: 2 });
    const out = r.finish()!;
    src.fill(0);
    expect(out.packets.equals(PACKETS[1]!.bytes)).toBe(true);
    expect(r.add(PACKETS[2]!)).toBe(false);
    expect(r.finish()).toBeNull();
    const empty = new Recorder(0).finish()!;
    expect([empty.packets.length, empty.index.length]).toEqual([0, 0]);
  });
});
