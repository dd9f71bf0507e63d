import fc from 'fast-check';
import { NEED_MORE_DATA } from '../../../../src/protocol/errors';
import { Reader } from '../../../../src/protocol/io/reader';
import { Writer } from '../../../../src/protocol/io/writer';
import { GATES_UP_TO_MAX, PROXY_MAX_REVISION } from '../../../../src/protocol/revision';
import {
  ClientPacket,
  ServerPacket,
  decodeClientPacket,
  decodeServerPacket,
  encodeClientPacket,
  encodeServerPacket,
} from '../../../../src/protocol/packets';
import { addendum, clientPackets, serverPackets } from './arbitraries';

/**
 * Round trips of every packet type at every gate up to PROXY_MAX_REVISION and one below each
 * (plus the gates above it that the codec implements anyway): decode(encode(x)) equals x, the
 * decoder consumes exactly the encoded bytes, and every strict prefix throws NEED_MORE_DATA
 * (ch-go's requireNoShortRead), so a decoder can always be restarted from the packet start.
 */

const ABOVE_MAX_GATES = [54461, 54462, 54463, 54464, 54466, 54467, 54469, 54470, 54471, 54472, 54474, 54475, 54476, 54477, 54485];
const REVS = [...new Set([...GATES_UP_TO_MAX, ...ABOVE_MAX_GATES].flatMap((g) => [g - 1, g]))].sort((a, b) => a - b);

function withBlockOffset<T extends { code: number }>(x: T, len: number): T {
  return 'blockOffset' in x ? { ...x, blockOffset: len } : x;
}

function expectEveryPrefixNeedsMore(bytes: Buffer, decode: (r: Reader) => unknown): void {
  for (let i = 0; i < bytes.length; i++) {
    let thrown: unknown;
    try {
      decode(new Reader(bytes.subarray(0, i)));
    } catch (e) {
      thrown = e;
    }
    if (thrown !== NEED_MORE_DATA) throw new Error(`prefix of ${i}/${bytes.length} bytes: ${String(thrown) || 'decoded'}`);
  }
}

function checkClient(p: ClientPacket, rev: number, state?: { expectAddendum: boolean }): void {
  const w = new Writer();
  encodeClientPacket(w, p, rev);
  const bytes = w.toBuffer();
  // trailing bytes must not be touched: the decoder stops exactly at the packet end
  const padded = Buffer.concat([bytes, Buffer.from([0xff, 0x01])]);
  const r = new Reader(padded);
  const back = decodeClientPacket(r, rev, state);
  expect(r.pos).toBe(bytes.length);
  expect(back).toEqual(withBlockOffset(p, bytes.length));
  expectEveryPrefixNeedsMore(bytes, (rr) => decodeClientPacket(rr, rev, state));
}

function checkServer(p: ServerPacket, rev: number): void {
  const w = new Writer();
  encodeServerPacket(w, p, rev);
  const bytes = w.toBuffer();
  const padded = Buffer.concat([bytes, Buffer.from([0xff, 0x01])]);
  const r = new Reader(padded);
  const back = decodeServerPacket(r, rev);
  expect(r.pos).toBe(bytes.length);
  expect(back).toEqual(withBlockOffset(p, bytes.length));
  expectEveryPrefixNeedsMore(bytes, (rr) => decodeServerPacket(rr, rev));
}

describe('packet round trips at every revision', () => {
  it('covers 54406..PROXY_MAX_REVISION gates and gate-1', () => {
    expect(REVS).toContain(54405);
    expect(REVS).toContain(54406);
    expect(REVS).toContain(54459);
    expect(REVS).toContain(PROXY_MAX_REVISION);
  });

  for (const rev of REVS) {
    it(`client packets at ${rev}`, () => {
      for (const arb of clientPackets(rev)) {
        fc.assert(fc.property(arb, (p) => checkClient(p, rev)), { numRuns: 15 });
      }
      fc.assert(fc.property(addendum(rev), (a) => checkClient(a, rev, { expectAddendum: true })), { numRuns: 10 });
    });

    it(`server packets at ${rev}`, () => {
      for (const arb of serverPackets(rev)) {
        fc.assert(fc.property(arb, (p) => checkServer(p, rev)), { numRuns: 15 });
      }
    });
  }
});
