import { ServerCode } from '../../../../src/protocol/codes';
import { ConnectionState, FramedPacket, Framer } from '../../../../src/protocol/framer';
import { Capture, listCaptures } from '../../../helpers/captures';
import { byteByByte, randomCuts, replay, Replay, splitAt } from './replay';

const captures = listCaptures();

/** Packet names as decoded.txt spells them, by direction and code. */
const CLIENT_NAMES: Record<number, string> = { [-1]: 'Addendum', 0: 'Hello', 1: 'Query', 2: 'Data', 3: 'Cancel', 4: 'Ping', 5: 'TablesStatusRequest', 7: 'Scalar' };
const SERVER_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ServerCode).map(([k, v]) => [v, k]));

function assertTiles(packets: FramedPacket[], bytes: Buffer): void {
  let at = 0;
  for (const p of packets) {
    expect(p.start).toBe(at);
    expect(Buffer.concat(p.chunks).equals(bytes.subarray(p.start, p.end))).toBe(true);
    at = p.end;
  }
  expect(at).toBe(bytes.length);
}

function summarize(r: Replay) {
  const row = (dir: 'c2s' | 's2c') => (p: FramedPacket) => ({
    dir,
    offset: p.start,
    name: (dir === 'c2s' ? CLIENT_NAMES : SERVER_NAMES)[p.code],
    cols: p.block?.columns.length,
    rows: p.block?.rows,
  });
  return [...r.c2s.map(row('c2s')), ...r.s2c.map(row('s2c'))];
}

describe.each(captures.map((c) => [`${c.name}/${c.conn}`, c] as [string, Capture]))('capture %s', (_label, cap) => {
  const whole = replay(cap);

  it('frames both directions completely, with no byte left over', () => {
    assertTiles(whole.c2s, cap.c2s);
    assertTiles(whole.s2c, cap.s2c);
    expect(whole.client.idle).toBe(true);
    expect(whole.server.idle).toBe(true);
  });

  it('matches the independent decoding in decoded.txt', () => {
    const got = summarize(whole);
    for (const exp of cap.expected) {
      const p = got.find((g) => g.dir === exp.dir && g.offset === exp.offset);
      expect({ at: `${exp.dir}@${exp.offset}`, name: p?.name }).toEqual({ at: `${exp.dir}@${exp.offset}`, name: exp.name });
      if (exp.cols !== undefined) {
        const framed = (exp.dir === 'c2s' ? whole.c2s : whole.s2c).find((f) => f.start === exp.offset)!;
        expect(framed.block!.columns.length).toBe(exp.cols);
        expect(framed.block!.rows).toBe(exp.rows);
        expect((framed.packet as { tableName: string }).tableName).toBe(exp.table);
        if (exp.frames !== undefined) {
          expect(framed.compressed).toBe(true);
          expect(framed.frames).toBe(exp.frames);
        } else expect(framed.compressed).toBeFalsy();
        expect(framed.block!.columns.map((c) => `${c.name} ${c.type}`)).toEqual(exp.columns);
      }
    }
    // Every framed packet is one decoded.txt knows about (same count per direction).
    expect(got.length).toBe(cap.expected.length);
  });

  const small = cap.c2s.length + cap.s2c.length <= 64 * 1024;
  const signature = summarize(whole);

  it('gives the same packets for random chunkings', () => {
    for (const seed of [1, 2, 3]) {
      expect(summarize(replay(cap, randomCuts(seed, 7)))).toEqual(signature);
      expect(summarize(replay(cap, randomCuts(seed, 4096)))).toEqual(signature);
    }
  });

  it('gives the same packets fed byte by byte', () => {
    const r = replay(cap, byteByByte);
    expect(summarize(r)).toEqual(signature);
    assertTiles(r.c2s, cap.c2s);
    assertTiles(r.s2c, cap.s2c);
  });

  // Every split point is O(n^2) work: done for the captures up to 64 KiB (all but the large
  // SELECT, the cancel and the 10k-row exception captures, which the chunkings above cover).
  if (small) {
    it('gives the same packets split in two at every point of every recv', () => {
      const longest = Math.max(...cap.events.map((e) => e.len));
      for (let k = 1; k < longest; k++) {
        expect(summarize(replay(cap, splitAt(k)))).toEqual(signature);
      }
    });
  }
});

describe('scratch buffers between exchanges', () => {
  it('a bulk result grows them; its EndOfStream lets the large ones go (an idle pooled connection holds little)', () => {
    const cap = captures.find((c) => c.name === 'cli_lz4_large_select')!;
    const state = new ConnectionState();
    const client = new Framer('client', state);
    const server = new Framer('server', state);
    const s2c: FramedPacket[] = [];
    let peak = 0;
    for (const ev of cap.events) {
      const framer = ev.dir === 'c2s' ? client : server;
      const bytes = (ev.dir === 'c2s' ? cap.c2s : cap.s2c).subarray(ev.off, ev.off + ev.len);
      // 4 KiB pieces: compressed frames span many chunks, so they are joined and decompressed in scratch buffers.
      for (let i = 0; i < bytes.length; i += 4096) {
        const got = framer.push(bytes.subarray(i, i + 4096));
        if (ev.dir === 's2c') s2c.push(...got);
        client.poll();
        s2c.push(...server.poll());
        peak = Math.max(peak, server.scratchBytes);
      }
    }
    expect(s2c[s2c.length - 1]!.code).toBe(ServerCode.EndOfStream);
    expect(peak).toBeGreaterThan(1 << 20);
    expect(server.scratchBytes).toBeLessThanOrEqual(3 * 64 * 1024);
  });
});
