import { readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import { Recorder } from '../../../src/cache';

/** cli_nocomp_select_types (18.16, rev 54412), offsets from conn1.decoded.txt: result packets to record are
 *  [30,403) header Data, [403,1240) Data, [1240,1248) ProfileInfo, [1252,1264) final empty Data; Progress is skipped. */
const S2C = readFileSync(join(__dirname, '../../fixtures/vectors/captures-18.16/cli_nocomp_select_types/conn1.s2c.bin'));
const PACKETS = [S2C.subarray(30, 403), S2C.subarray(403, 1240), S2C.subarray(1240, 1248), S2C.subarray(1252, 1264)];
const RESULT = Buffer.concat(PACKETS);

/** Splits each packet into chunks at the given cut points, as a framer hands out views of socket chunks. */
function chunked(cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (const p of PACKETS) {
    let at = 0;
    for (const c of cuts.map((c) => c % (p.length + 1)).sort((a, b) => a - b)) {
      out.push(p.subarray(at, Math.max(at, c)));
      at = Math.max(at, c);
    }
    out.push(p.subarray(at));
  }
  return out;
}

describe('Recorder', () => {
  it('tees real packets, however they are chunked, into one buffer', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 2000 }), { maxLength: 6 }), (cuts) => {
        const r = new Recorder(RESULT.length);
        for (const c of chunked(cuts)) expect(r.add(c)).toBe(true);
        expect(r.bytes).toBe(RESULT.length);
        const out = r.finish();
        expect(out).not.toBeNull();
        expect(out!.equals(RESULT)).toBe(true);
        expect(r.abandoned).toBe(false);
      }),
    );
  });

  it('gives up past the cap, drops what it had, and stays given up', () => {
    const r = new Recorder(RESULT.length - 1);
    const adds = PACKETS.map((p) => r.add(p));
    expect(adds).toEqual([true, true, true, false]);
    expect(r.abandoned).toBe(true);
    expect(r.bytes).toBe(0);
    expect(r.add(Buffer.alloc(0))).toBe(false);
    expect(r.finish()).toBeNull();
  });

  it('accepts exactly the cap', () => {
    const r = new Recorder(10);
    expect(r.add(Buffer.alloc(10))).toBe(true);
    expect(r.add(Buffer.alloc(0))).toBe(true);
    expect(r.add(Buffer.alloc(1))).toBe(false);
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
    const src = Buffer.from(PACKETS[1]!);
    r.add(src);
    const out = r.finish()!;
    src.fill(0);
    expect(out.equals(PACKETS[1]!)).toBe(true);
    expect(r.add(PACKETS[2]!)).toBe(false);
    expect(r.finish()).toBeNull();
    expect(new Recorder(0).finish()!.length).toBe(0);
  });
});
