import { Writer } from '../../../../src/protocol/io/writer';
import { DEFAULT_LIMITS } from '../../../../src/protocol/limits';
import { encodeBlock, sizeBlock } from '../../../../src/protocol/block';
import { chunked, drive } from './drive';

const CHUNK = 64 * 1024;

/** A block with one String column of `totalBytes` bytes of values with lengths cycling 0..299. */
function stringBlock(totalBytes: number): Buffer {
  const w = new Writer(totalBytes + 1024);
  const payload = Buffer.alloc(300, 0x61);
  const values: Buffer[] = [];
  for (let n = 0, i = 0; n < totalBytes; i++) {
    const len = (i * 7919) % 300;
    values.push(payload.subarray(0, len));
    n += len + (len < 128 ? 1 : 2);
  }
  encodeBlock(w, { columns: [{ name: 's', type: 'String', values }] }, 54460);
  return w.toBuffer();
}

/**
 * Work is counted, not timed: every resumption re-presents only the unconsumed tail (at most a split
 * VarUInt header or a fixed-width atom), so the bytes handed to the sizer stay ~1x the block size.
 */
describe('sizing is linear in the input, however it is chunked', () => {
  it('50 MB String column in 64 KiB chunks', () => {
    const bytes = stringBlock(50 * 1024 * 1024);
    const res = drive((input) => sizeBlock(input, 54460, DEFAULT_LIMITS), chunked(bytes, [CHUNK]));
    expect(res.done).toBe(true);
    expect(res.consumed).toBe(bytes.length);
    expect(res.resumptions).toBe(Math.ceil(bytes.length / CHUNK) - 1);
    expect(res.maxCarried).toBeLessThanOrEqual(10);
    expect(res.bytesPresented).toBeLessThan(bytes.length * 1.01);
  });

  it('one 20 MB string value and a 20 MB UInt64 column in 1 MiB and odd chunks', () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 0x62);
    const w = new Writer(50 * 1024 * 1024);
    const rows = 2;
    const u64 = new Array<bigint>(rows).fill(1n);
    encodeBlock(w, {
      columns: [
        { name: 's', type: 'String', values: [big, 'x'] },
        { name: 'n', type: 'Array(UInt64)', values: [u64, new Array<bigint>(20 * 1024 * 128).fill(2n)] },
      ],
    }, 54460);
    const bytes = w.toBuffer();
    for (const sizes of [[1024 * 1024], [CHUNK + 3, 7, 100_000]]) {
      const res = drive((input) => sizeBlock(input, 54460, DEFAULT_LIMITS), chunked(bytes, sizes));
      expect(res.consumed).toBe(bytes.length);
      expect(res.maxCarried).toBeLessThanOrEqual(10);
      expect(res.bytesPresented).toBeLessThan(bytes.length * 1.01);
    }
  });
});
