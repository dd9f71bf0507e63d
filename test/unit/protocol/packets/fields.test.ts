/**
 * readCount: the VarUInt counters of Progress and ProfileInfo, decoded without a BigInt up to 7 bytes and with one
 * beyond; a number whenever the value is exact in a double, else a bigint; NEED_MORE_DATA when the bytes end early.
 */
import fc from 'fast-check';
import { isNeedMoreData } from '../../../../src/protocol/errors';
import { Reader } from '../../../../src/protocol/io/reader';
import { Writer } from '../../../../src/protocol/io/writer';
import { normalizeCount, readCount } from '../../../../src/protocol/packets/fields';

function encoded(v: bigint): Buffer {
  return new Writer(16).varUInt(v).toBuffer();
}

it.each([
  0n, 1n, 127n, 128n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 56n, 2n ** 63n, 2n ** 64n - 1n,
])('%s: the value, as a number when exact, and the reader past it', (v) => {
  const bytes = Buffer.concat([encoded(v), Buffer.from([0x7f])]);
  const r = new Reader(bytes);
  const got = readCount(r);
  expect(got).toEqual(v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  expect(typeof got).toBe(v <= BigInt(Number.MAX_SAFE_INTEGER) ? 'number' : 'bigint');
  expect(r.pos).toBe(bytes.length - 1);
});

it('agrees with normalizeCount over the UInt64 range, and asks for more bytes when cut', () => {
  fc.assert(
    fc.property(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 50n })), fc.nat(10), (v, cut) => {
      const bytes = encoded(v);
      expect(readCount(new Reader(bytes))).toEqual(normalizeCount(v));
      if (cut < bytes.length) {
        const r = new Reader(bytes, 0, cut);
        let err: unknown;
        try {
          readCount(r);
        } catch (e) {
          err = e;
        }
        expect(isNeedMoreData(err)).toBe(true);
        expect(r.pos).toBe(0);
      }
    }),
    { numRuns: 2000 },
  );
});
