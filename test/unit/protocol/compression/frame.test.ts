import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import {
  ChecksumError,
  CompressionError,
  LimitError,
  MalformedError,
  ProtocolError,
} from '../../../../src/protocol/errors';
import { DEFAULT_LIMITS, withLimits } from '../../../../src/protocol/limits';
import {
  cityHash128Into,
  CompressionMethod,
  decompressFrame,
  encodeFrame,
  encodeFrames,
  FRAME_HEADER_BYTES,
  methodFromSetting,
  readFrameHeader,
} from '../../../../src/protocol/compression';

const VECTORS = join(__dirname, '../../../fixtures/vectors');
const COMPRESSOR = join(VECTORS, 'compressor');
const METHODS = [CompressionMethod.None, CompressionMethod.LZ4, CompressionMethod.ZSTD] as const;

/** Decodes a file of chained frames; asserts that nothing is left over. */
function decodeAll(b: Buffer, limits = DEFAULT_LIMITS): { data: Buffer; methods: number[]; frames: number } {
  const parts: Buffer[] = [];
  const methods: number[] = [];
  let pos = 0;
  while (pos < b.length) {
    const f = decompressFrame(b, pos, b.length, limits);
    if (f === null) throw new Error(`truncated frame at ${pos}`);
    parts.push(f.data);
    methods.push(f.method);
    pos += f.frameBytes;
  }
  expect(pos).toBe(b.length);
  return { data: Buffer.concat(parts), methods, frames: parts.length };
}

/** The input of a clickhouse-compressor output file (compressor/README: the zeros input is not stored). */
function inputOf(file: string): Buffer {
  if (file.includes('zeros_2_5MiB')) return Buffer.alloc(2621440);
  const stem = file.replace(/^(lz4hc|lz4_blocksize1000|lz4|zstd|none)_/, '').replace(/\.bin$/, '');
  const name = readdirSync(COMPRESSOR).find((f) => f === `in_${stem}.bin` || f === `in_${stem}.txt`);
  if (!name) throw new Error(`no input for ${file}`);
  return readFileSync(join(COMPRESSOR, name));
}

function withFixedChecksum(frame: Buffer): Buffer {
  cityHash128Into(frame, 16, frame.length, frame, 0);
  return frame;
}

describe('clickhouse-compressor 18.16 vectors', () => {
  const outputs = readdirSync(COMPRESSOR).filter((f) => !f.startsWith('in_'));

  it('has every output of the README', () => {
    expect(outputs).toHaveLength(24);
  });

  it.each(outputs)('%s decodes to its input', (file) => {
    const b = readFileSync(join(COMPRESSOR, file));
    const expected = inputOf(file);
    const { data, methods, frames } = decodeAll(b);
    expect(data.equals(expected)).toBe(true);
    const method = file.startsWith('zstd') ? 0x90 : file.startsWith('none') ? 0x02 : 0x82;
    expect(methods.every((m) => m === method)).toBe(true);
    if (expected.length === 0) expect(b.length).toBe(0); // no frame at all for empty input
    if (file.includes('zeros_2_5MiB')) {
      expect(frames).toBe(3);
    }
    if (file === 'lz4_blocksize1000_u64_seq.bin') expect(frames).toBe(33);
  });

  it('re-encodes each input into frames that decode back (same framing as the server: 1 MiB)', () => {
    for (const method of METHODS) {
      const zeros = Buffer.alloc(2621440);
      const frames = encodeFrames(zeros, method);
      expect(frames).toHaveLength(3);
      const sizes = frames.map((f) => readFrameHeader(f, 0, f.length, DEFAULT_LIMITS)!.decompressedBytes);
      expect(sizes).toEqual([1048576, 1048576, 524288]);
      expect(decodeAll(Buffer.concat(frames)).data.equals(zeros)).toBe(true);
    }
  });

  it('matches the sizes of the server frames for NONE (same layout byte for byte)', () => {
    const input = readFileSync(join(COMPRESSOR, 'in_hello.txt'));
    expect(encodeFrame(input, CompressionMethod.None).equals(readFileSync(join(COMPRESSOR, 'none_hello.bin')))).toBe(true);
  });
});

describe('ch-go golden frames', () => {
  const dir = join(VECTORS, 'ch-go/compress/_golden');
  const raw = readFileSync(join(dir, 'data_raw.raw'));
  it.each(['none', 'lz4', 'lz4hc', 'lz4_hc', 'zstd'])('data_compressed_%s decodes to data_raw', (name) => {
    const b = readFileSync(join(dir, `data_compressed_${name}.raw`));
    const f = decompressFrame(b, 0, b.length, DEFAULT_LIMITS)!;
    expect(f.frameBytes).toBe(b.length);
    expect(f.data.equals(raw)).toBe(true);
  });
  it('NONE frames encode byte for byte like ch-go', () => {
    expect(encodeFrame(raw, CompressionMethod.None).equals(readFileSync(join(dir, 'data_compressed_none.raw')))).toBe(true);
  });
});

describe('a frame inside a real capture (18.16, cli_lz4_select1)', () => {
  it('verifies the checksum of the client empty block frame', () => {
    const c2s = readFileSync(join(VECTORS, 'captures-18.16/cli_lz4_select1/conn1.c2s.bin'));
    const q = c2s.indexOf('\x08SELECT 1', 0, 'latin1');
    expect(q).toBeGreaterThan(0);
    const pos = q + 9 + 2; // query text, then Data packet code 02 and table name ""
    expect(c2s.subarray(q + 9, pos)).toEqual(Buffer.from([0x02, 0x00]));
    expect(c2s.subarray(pos, pos + 4).toString('hex')).toBe('a783ac6c'); // native-protocol.md §14
    const f = decompressFrame(c2s, pos, c2s.length, DEFAULT_LIMITS)!;
    expect(f.method).toBe(CompressionMethod.LZ4);
    expect(f.frameBytes).toBe(36);
    expect(f.data.toString('hex')).toBe('010002ffffffff000000');
    expect(pos + f.frameBytes).toBe(c2s.length);
  });
});

describe('round trips', () => {
  it.each(METHODS)('decode(encode(x)) === x for method 0x%s', (method) => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2 }),
          fc.uint8Array({ maxLength: 3000 }),
          // compressible: runs and repeats, as in column data
          fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 200 })), { maxLength: 40 })
            .map((parts) => Buffer.concat(parts.flatMap(([p, n]) => Array<Uint8Array>(n).fill(p)))),
        ),
        (x) => {
          const frame = encodeFrame(x, method);
          const h = readFrameHeader(frame, 0, frame.length, DEFAULT_LIMITS)!;
          expect(h).toEqual({ method, compressedBytes: frame.length - 16, decompressedBytes: x.length, frameBytes: frame.length });
          const f = decompressFrame(frame, 0, frame.length, DEFAULT_LIMITS)!;
          expect(f.frameBytes).toBe(frame.length);
          expect(Buffer.from(f.data).equals(Buffer.from(x))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('encodeFrames cuts at maxFrameDataBytes and gives nothing for empty data', () => {
    expect(encodeFrames(Buffer.alloc(0), CompressionMethod.LZ4)).toEqual([]);
    const data = Buffer.from(Array.from({ length: 2500 }, (_, i) => i % 7));
    const frames = encodeFrames(data, CompressionMethod.ZSTD, 1000);
    expect(frames.map((f) => f.readUInt32LE(21))).toEqual([1000, 1000, 500]);
    expect(decodeAll(Buffer.concat(frames)).data.equals(data)).toBe(true);
    expect(() => encodeFrames(data, CompressionMethod.LZ4, 0)).toThrow(RangeError);
  });

  it('honours the ZSTD level', () => {
    const data = Buffer.from('abcdefgh'.repeat(5000) + Array.from({ length: 3000 }, (_, i) => i).join(','));
    const l1 = encodeFrame(data, CompressionMethod.ZSTD);
    const l19 = encodeFrame(data, CompressionMethod.ZSTD, { level: 19 });
    expect(l19.length).toBeLessThanOrEqual(l1.length);
    expect(decompressFrame(l19, 0, l19.length, DEFAULT_LIMITS)!.data.equals(data)).toBe(true);
  });
});

describe('damaged frames', () => {
  const data = Buffer.from(Array.from({ length: 400 }, (_, i) => `row${i % 37};`).join(''));

  it.each(METHODS)('corrupting any byte of a 0x%s frame is a typed error (ChecksumError past the header)', (method) => {
    const frame = encodeFrame(data, method);
    for (let i = 0; i < frame.length; i++) {
      const bad = Buffer.from(frame);
      bad[i] ^= 0x41;
      let err: unknown;
      try {
        decompressFrame(bad, 0, bad.length, DEFAULT_LIMITS);
      } catch (e) {
        err = e;
      }
      // a header byte can also change the method or a size (then the frame ends elsewhere)
      if (i < 16 || i >= FRAME_HEADER_BYTES) expect(err).toBeInstanceOf(ChecksumError);
      else if (err !== undefined) expect(err).toBeInstanceOf(ProtocolError);
      else expect(decompressFrame(bad, 0, bad.length, DEFAULT_LIMITS)).toBeNull(); // a larger size: incomplete
    }
  });

  it('ChecksumError carries both hashes', () => {
    const frame = encodeFrame(data, CompressionMethod.LZ4);
    frame[30] ^= 1;
    try {
      decompressFrame(frame, 0, frame.length, DEFAULT_LIMITS);
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(ChecksumError);
      const c = e as ChecksumError;
      expect(c.expected).toBe(frame.subarray(0, 16).toString('hex'));
      const actual = Buffer.alloc(16);
      cityHash128Into(frame, 16, frame.length, actual, 0);
      expect(c.actual).toBe(actual.toString('hex'));
      expect(c.chCode).toBe(40); // CHECKSUM_DOESNT_MATCH
    }
  });

  it('verifyChecksum: false skips the check', () => {
    const frame = encodeFrame(data, CompressionMethod.None);
    frame[0] ^= 1;
    expect(decompressFrame(frame, 0, frame.length, DEFAULT_LIMITS, { verifyChecksum: false })!.data.equals(data)).toBe(true);
  });

  it.each(METHODS)('every strict prefix of a 0x%s frame is null (needs more bytes)', (method) => {
    const frame = encodeFrame(data, method);
    const padded = Buffer.concat([Buffer.from([9, 9, 9]), frame]);
    for (let end = 3; end < padded.length; end++) {
      expect(decompressFrame(padded, 3, end, DEFAULT_LIMITS)).toBeNull();
      if (end - 3 < FRAME_HEADER_BYTES) expect(readFrameHeader(padded, 3, end, DEFAULT_LIMITS)).toBeNull();
    }
    expect(decompressFrame(padded, 3, padded.length, DEFAULT_LIMITS)!.data.equals(data)).toBe(true);
  });

  it('checks the header before allocating: limits, size below 9, unknown method', () => {
    const frame = encodeFrame(data, CompressionMethod.LZ4);
    const header = frame.subarray(0, FRAME_HEADER_BYTES); // payload absent: nothing could be decoded anyway
    const tinyCompressed = withLimits({ maxCompressedFrameBytes: 32 });
    expect(() => readFrameHeader(header, 0, header.length, tinyCompressed)).toThrow(LimitError);
    expect(() => decompressFrame(header, 0, header.length, tinyCompressed)).toThrow(LimitError);
    const tinyDecompressed = withLimits({ maxDecompressedFrameBytes: 100 });
    expect(() => decompressFrame(header, 0, header.length, tinyDecompressed)).toThrow(LimitError);

    const huge = Buffer.from(header);
    huge.writeUInt32LE(0xffffffff, 21); // 4 GiB declared: refused before any allocation
    const spy = jest.spyOn(Buffer, 'allocUnsafe');
    try {
      expect(() => decompressFrame(huge, 0, huge.length, DEFAULT_LIMITS)).toThrow(LimitError);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }

    for (const size of [0, 8]) {
      const small = Buffer.from(header);
      small.writeUInt32LE(size, 17);
      expect(() => readFrameHeader(small, 0, small.length, DEFAULT_LIMITS)).toThrow(MalformedError);
    }
    for (const m of [0x00, 0x01, 0x83, 0x91, 0x96, 0xff]) {
      const odd = Buffer.from(header);
      odd[16] = m;
      expect(() => readFrameHeader(odd, 0, odd.length, DEFAULT_LIMITS)).toThrow(CompressionError);
    }
  });

  it('NONE frames must carry exactly the declared size', () => {
    const frame = encodeFrame(data, CompressionMethod.None);
    frame.writeUInt32LE(data.length - 1, 21);
    withFixedChecksum(frame);
    expect(() => decompressFrame(frame, 0, frame.length, DEFAULT_LIMITS)).toThrow(CompressionError);
  });

  it.each([CompressionMethod.LZ4, CompressionMethod.ZSTD])('0x%s: a wrong declared size is a CompressionError', (method) => {
    for (const delta of [-1, 1, 1000]) {
      const frame = encodeFrame(data, method);
      frame.writeUInt32LE(data.length + delta, 21);
      withFixedChecksum(frame);
      expect(() => decompressFrame(frame, 0, frame.length, DEFAULT_LIMITS)).toThrow(CompressionError);
    }
  });

  // ch-go compress/fuzz_test.go FuzzReader_Read: fix the checksum so that fuzzed bytes reach the decompressor.
  it.each([CompressionMethod.LZ4, CompressionMethod.ZSTD])('fuzzed 0x%s frames with a recomputed checksum only throw ProtocolErrors', (method) => {
    const columnish = Buffer.concat([
      Buffer.from(new BigUint64Array(Array.from({ length: 300 }, (_, i) => BigInt(i * 3))).buffer),
      Buffer.from(Array.from({ length: 200 }, (_, i) => String(i)).join('\u0001')),
    ]);
    const frame = encodeFrame(columnish, method);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(frame.length - FRAME_HEADER_BYTES - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.option(fc.integer({ min: 0, max: 3 * columnish.length }), { nil: undefined }),
        fc.nat(frame.length - FRAME_HEADER_BYTES),
        (flips, declared, cut) => {
          let bad = Buffer.from(frame);
          for (const [i, x] of flips) bad[FRAME_HEADER_BYTES + i] ^= x;
          if (declared !== undefined) bad.writeUInt32LE(declared, 21);
          if (cut > 0 && cut % 3 === 0) {
            bad = bad.subarray(0, bad.length - cut);
            bad.writeUInt32LE(bad.length - 16, 17);
          }
          withFixedChecksum(bad);
          try {
            const f = decompressFrame(bad, 0, bad.length, DEFAULT_LIMITS);
            expect(f).not.toBeNull();
            expect(f!.data.length).toBe(bad.readUInt32LE(21));
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('methodFromSetting', () => {
  it('maps network_compression_method values case-insensitively', () => {
    expect(methodFromSetting('LZ4')).toBe(0x82);
    expect(methodFromSetting('lz4hc')).toBe(0x82);
    expect(methodFromSetting('ZSTD')).toBe(0x90);
    expect(methodFromSetting('zstd')).toBe(0x90);
    expect(methodFromSetting('None')).toBe(0x02);
    expect(() => methodFromSetting('deflate_qpl')).toThrow(CompressionError);
    expect(() => methodFromSetting('')).toThrow(CompressionError);
  });
});
