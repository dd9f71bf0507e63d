import fc from 'fast-check';
import { CompressionError } from '../../../../src/protocol/errors';
import {
  lz4CompressBlock,
  lz4CompressBound,
  lz4Decompress,
  lz4DecompressBlock,
  lz4NativeAvailable,
} from '../../../../src/protocol/compression';

function compress(x: Uint8Array): Buffer {
  const out = Buffer.alloc(lz4CompressBound(x.length));
  return out.subarray(0, lz4CompressBlock(x, 0, x.length, out, 0));
}

/** [UInt32 LE size][block], the way a frame header precedes the payload. */
function sizePrefixed(block: Uint8Array, size: number): Buffer {
  const b = Buffer.alloc(4 + block.length);
  b.writeUInt32LE(size, 0);
  b.set(block, 4);
  return b;
}

/** ~1 MiB of column-like data: a UInt64 sequence, then short strings. */
function columnData(rows: number): Buffer {
  const nums = Buffer.alloc(rows * 8);
  for (let i = 0; i < rows; i++) nums.writeBigUInt64LE(BigInt(1_000_000 + i), i * 8);
  const strs = Buffer.from(Array.from({ length: rows }, (_, i) => `\u0007${1_000_000 + i}`).join(''), 'latin1');
  return Buffer.concat([nums, strs]);
}

describe('LZ4 block decoder', () => {
  it('decodes hand-made blocks: literals only, overlapping match, long lengths', () => {
    const out = Buffer.alloc(5);
    lz4DecompressBlock(Buffer.from([0x50, 104, 101, 108, 108, 111]), 0, 6, out, 0, 5);
    expect(out.toString()).toBe('hello');
    // "ab" then a match of offset 2, length 4+15+10 = 29, then 5 literals
    const block = Buffer.from([0x2f, 0x61, 0x62, 0x02, 0x00, 10, 0x50, 0x63, 0x63, 0x63, 0x63, 0x63]);
    const out2 = Buffer.alloc(2 + 29 + 5);
    lz4DecompressBlock(block, 0, block.length, out2, 0, out2.length);
    expect(out2.toString()).toBe('ab'.repeat(15) + 'a' + 'ccccc');
    // empty block: one token, no literals
    lz4DecompressBlock(Buffer.from([0]), 0, 1, Buffer.alloc(0), 0, 0);
  });

  it('rejects corrupt blocks with CompressionError and writes nothing outside the window', () => {
    const cases: Array<[number[], number]> = [
      [[], 1], // empty input, data expected
      [[0x50, 1, 2], 5], // literals past the end of the input
      [[0x50, 1, 2, 3, 4, 5], 4], // literals past the declared size
      [[0x10, 1, 0, 0], 8], // offset 0
      [[0x10, 1, 2, 0], 8], // offset before the start of the output
      [[0x1f, 1, 1, 0], 30], // truncated match length
      [[0xf0], 20], // truncated literal length
      [[0x10, 1, 1, 0, 0x00], 9], // decodes to 5 bytes, 9 declared
      [[0x10, 1, 1], 5], // truncated offset
      [[0x30, 1, 2, 3], 4], // fewer bytes than declared
    ];
    for (const [bytes, size] of cases) {
      const dst = Buffer.alloc(size + 8, 0xcc);
      expect(() => lz4DecompressBlock(Buffer.from(bytes), 0, bytes.length, dst, 4, 4 + size)).toThrow(CompressionError);
      expect(dst.subarray(0, 4).every((b) => b === 0xcc)).toBe(true);
      expect(dst.subarray(4 + size).every((b) => b === 0xcc)).toBe(true);
    }
  });

  it('round-trips random and repetitive buffers through the TypeScript encoder and decoder', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }),
          fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 9 }), fc.integer({ min: 1, max: 400 })), { maxLength: 30 })
            .map((parts) => Buffer.concat(parts.flatMap(([p, n]) => Array<Uint8Array>(n).fill(p)))),
        ),
        (x) => {
          const c = compress(x);
          expect(c.length).toBeLessThanOrEqual(lz4CompressBound(x.length));
          const out = Buffer.alloc(x.length);
          lz4DecompressBlock(c, 0, c.length, out, 0, x.length);
          expect(out.equals(Buffer.from(x))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps the end-of-block rules of the reference decoder (last 5 bytes literal, last match ≥ 12 bytes from the end)', () => {
    for (const x of [Buffer.alloc(100), columnData(500), Buffer.alloc(13, 7)]) {
      const c = compress(x);
      // walk the sequences, tracking output position
      let ip = 0;
      let op = 0;
      let lastMatchStart = -1;
      for (;;) {
        const t = c[ip++];
        let lit = t >> 4;
        if (lit === 15) for (let b = 255; b === 255; lit += b) b = c[ip++];
        ip += lit;
        op += lit;
        if (ip === c.length) break;
        ip += 2;
        let ml = t & 15;
        if (ml === 15) for (let b = 255; b === 255; ml += b) b = c[ip++];
        lastMatchStart = op;
        op += ml + 4;
        expect(op).toBeLessThanOrEqual(x.length - 5);
      }
      expect(op).toBe(x.length);
      if (lastMatchStart >= 0) expect(lastMatchStart).toBeLessThanOrEqual(x.length - 12);
    }
  });
});

describe('lz4Decompress (native for large blocks when available)', () => {
  const data = columnData(70_000);
  const block = compress(data);

  it('loads the native decoder on this platform', () => {
    expect(lz4NativeAvailable()).toBe(true);
  });

  it('gives the same bytes by both paths', () => {
    const framed = sizePrefixed(block, data.length);
    expect(lz4Decompress(framed, 4, framed.length, data.length).equals(data)).toBe(true); // native
    expect(lz4Decompress(block, 0, block.length, data.length).equals(data)).toBe(true); // TS (no size prefix)
  });

  it('rejects a wrong declared size on the native path', () => {
    for (const size of [data.length - 1, data.length + 1]) {
      const framed = sizePrefixed(block, size);
      expect(() => lz4Decompress(framed, 4, framed.length, size)).toThrow(CompressionError);
    }
  });

  it('fuzzed large blocks only throw CompressionError, on both paths', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(block.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.nat(block.length - 1),
        (flips, cut) => {
          const bad = Buffer.from(cut % 4 === 0 ? block.subarray(0, block.length - cut) : block);
          for (const [i, x] of flips) if (i < bad.length) bad[i] ^= x;
          const framed = sizePrefixed(bad, data.length);
          for (const [src, start] of [[framed, 4], [bad, 0]] as const) {
            try {
              expect(lz4Decompress(src, start, src.length, data.length).length).toBe(data.length);
            } catch (e) {
              expect(e).toBeInstanceOf(CompressionError);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
