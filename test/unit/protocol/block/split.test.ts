import { readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import { DEFAULT_LIMITS } from '../../../../src/protocol/limits';
import { sizeBlock } from '../../../../src/protocol/block';
import { bytewise, chunked, drive } from './drive';

const VECTORS = join(__dirname, '../../../fixtures/vectors');
const CAPTURE = readFileSync(join(VECTORS, 'captures-18.16/cli_nocomp_select_types/conn1.s2c.bin'));
const cases: [name: string, bytes: Buffer, rev: number][] = [
  ['18.16 select_types', CAPTURE.subarray(405, 403 + 837), 54412],
  ['ch-go block_int8_uint64', readFileSync(join(VECTORS, 'ch-go/proto/_golden/block_int8_uint64.raw')), 54460],
  ['ch-go test_arr_str_block', readFileSync(join(VECTORS, 'ch-go/_golden/test_arr_str_block.raw')), 54460],
];

describe.each(cases)('sizeBlock over %s fed in pieces', (_name, bytes, rev) => {
  const size = (chunks: Buffer[]) => drive((input) => sizeBlock(input, rev, DEFAULT_LIMITS), chunks);
  const whole = size([bytes]);

  it('whole', () => {
    expect(whole.done).toBe(true);
    expect(whole.consumed).toBe(bytes.length);
    expect(whole.resumptions).toBe(0);
  });

  it('byte by byte', () => {
    const res = size(bytewise(bytes));
    expect(res.done).toBe(true);
    expect(res.consumed).toBe(bytes.length);
    expect(res.value).toEqual(whole.value);
  });

  it('at every split point', () => {
    for (let i = 1; i < bytes.length; i++) {
      const res = size([bytes.subarray(0, i), bytes.subarray(i)]);
      if (!res.done || res.consumed !== bytes.length) throw new Error(`split at ${i}: consumed ${res.consumed}`);
      expect(res.value).toEqual(whole.value);
    }
  });

  it('in random chunk sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }), (sizes) => {
        const res = size(chunked(bytes, sizes));
        expect(res.done).toBe(true);
        expect(res.consumed).toBe(bytes.length);
        expect(res.value).toEqual(whole.value);
      }),
      { numRuns: 200 },
    );
  });

  it('every strict prefix asks for more bytes instead of finishing', () => {
    for (let i = 0; i < bytes.length; i++) {
      const res = size([bytes.subarray(0, i)]);
      if (res.done) throw new Error(`prefix of ${i} bytes finished`);
    }
  });

  it('stops at the block end when more bytes follow', () => {
    const res = size([Buffer.concat([bytes, Buffer.from('trailing')])]);
    expect(res.consumed).toBe(bytes.length);
  });
});
