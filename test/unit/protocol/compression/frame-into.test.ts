import fc from 'fast-check';
import { CompressionMethod, decompressFrame, decompressFrameInto, encodeFrame, readFrameHeader } from '../../../../src/protocol/compression';
import { lz4DecompressInto, LZ4_NATIVE_MIN_BYTES } from '../../../../src/protocol/compression/lz4';
import { ChecksumError, ProtocolError } from '../../../../src/protocol/errors';
import { DEFAULT_LIMITS } from '../../../../src/protocol/limits';

/** Column-like data large enough for the native decoder. */
function sample(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed + (i >> 9)) & 0x3f;
  return b;
}

describe('decompressFrame into a caller buffer (the framer\'s scratch)', () => {
  it.each([CompressionMethod.LZ4, CompressionMethod.ZSTD, CompressionMethod.None])('method 0x%s: same bytes as a fresh buffer, written at the offset only', (method) => {
    for (const size of [100, LZ4_NATIVE_MIN_BYTES - 1, LZ4_NATIVE_MIN_BYTES, 1 << 20]) {
      const data = sample(size, size);
      const frame = encodeFrame(data, method);
      const scratch = Buffer.alloc(size + 64, 0xee);
      const out = decompressFrame(frame, 0, frame.length, DEFAULT_LIMITS, { into: scratch, intoOffset: 32 })!;
      expect(out.data.equals(data)).toBe(true);
      expect(out.data.byteOffset - scratch.byteOffset).toBe(32);
      expect(scratch.subarray(0, 32).every((x) => x === 0xee)).toBe(true);
      expect(scratch.subarray(32 + size).every((x) => x === 0xee)).toBe(true);
    }
  });

  it('corrupt LZ4 payloads (checksum not verified) end in a typed error and never write outside the window', () => {
    const data = sample(64 * 1024, 3);
    const frame = encodeFrame(data, CompressionMethod.LZ4);
    fc.assert(
      fc.property(fc.integer({ min: 25, max: frame.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = Buffer.from(frame);
        bad[at] ^= x;
        const scratch = Buffer.alloc(data.length + 32, 0xee);
        try {
          decompressFrame(bad, 0, bad.length, DEFAULT_LIMITS, { verifyChecksum: false, into: scratch, intoOffset: 16 });
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
        expect(scratch.subarray(0, 16).every((v) => v === 0xee)).toBe(true);
        expect(scratch.subarray(16 + data.length).every((v) => v === 0xee)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('lz4DecompressInto refuses a block that decodes to fewer bytes than declared', () => {
    const data = sample(LZ4_NATIVE_MIN_BYTES * 2, 5);
    const frame = encodeFrame(data, CompressionMethod.LZ4);
    const out = Buffer.alloc(data.length + 10);
    expect(() => lz4DecompressInto(frame, 25, frame.length, out, 0, data.length + 10)).toThrow(ProtocolError);
  });
});

describe('decompressFrameInto (the framer\'s allocation-free path)', () => {
  it.each([CompressionMethod.LZ4, CompressionMethod.ZSTD, CompressionMethod.None])('method 0x%s: the frame inside a larger buffer, written at the offset only', (method) => {
    const data = sample(5000, 9);
    const frame = encodeFrame(data, method);
    const wire = Buffer.concat([Buffer.alloc(7, 0xaa), frame, Buffer.alloc(5, 0xbb)]);
    const h = readFrameHeader(wire, 7, wire.length, DEFAULT_LIMITS)!;
    const scratch = Buffer.alloc(data.length + 20, 0xee);
    decompressFrameInto(wire, 7, h, true, scratch, 10);
    expect(scratch.subarray(10, 10 + data.length).equals(data)).toBe(true);
    expect(scratch.subarray(0, 10).every((x) => x === 0xee)).toBe(true);
    expect(scratch.subarray(10 + data.length).every((x) => x === 0xee)).toBe(true);
  });

  it('a wrong checksum throws ChecksumError unless verification is off; a small output buffer is refused', () => {
    const data = sample(3000, 4);
    const frame = encodeFrame(data, CompressionMethod.LZ4);
    frame[0] ^= 1;
    const h = readFrameHeader(frame, 0, frame.length, DEFAULT_LIMITS)!;
    expect(() => decompressFrameInto(frame, 0, h, true, Buffer.alloc(data.length), 0)).toThrow(ChecksumError);
    const out = Buffer.alloc(data.length);
    decompressFrameInto(frame, 0, h, false, out, 0);
    expect(out.equals(data)).toBe(true);
    expect(() => decompressFrameInto(frame, 0, h, false, Buffer.alloc(data.length), 1)).toThrow(RangeError);
    expect(() => decompressFrameInto(frame.subarray(0, frame.length - 1), 0, h, false, out, 0)).toThrow(RangeError);
  });
});
