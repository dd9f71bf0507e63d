/**
 * LZ4 *block* format (not the LZ4 frame format): the payload of a ClickHouse frame with method
 * 0x82 (src/Compression/CompressionCodecLZ4.cpp). Decoding is hand-written TypeScript (faster than
 * a native call for small frames, and the fallback when the addon is not built) with the reference
 * C lz4 (node-lz4's binding) taking over for large frames, where it is ~3x faster. Compression is
 * TypeScript only: as fast as the native encoders measured on column data (benchmarks/compression.bench.ts).
 *
 * Block layout (lz4 doc/lz4_Block_format.md): sequences of
 *   token (literal length << 4 | match length - 4), [255-continued literal length], literals,
 *   UInt16 LE offset, [255-continued match length]
 * and the last sequence ends after its literals.
 */
import { CompressionError } from '../errors';

/** Frames at least this large (decompressed) go to the native decoder when it is installed. */
export const LZ4_NATIVE_MIN_BYTES = 16 * 1024;

/**
 * node-lz4's native binding (the reference C lz4, built from the package's bundled source by
 * node-gyp at install; no download): LZ4_decompress_safe into a caller-supplied buffer, so the
 * framer decompresses every frame into one reused scratch buffer instead of a fresh 1 MiB
 * allocation per frame. `uncompress(input, output, start, end)` returns the bytes written or a
 * negative error offset; it never writes past `output`.
 */
interface NativeLz4Into {
  uncompress(input: Buffer, output: Buffer, start: number, end: number): number;
}

const nativeInto: NativeLz4Into | null = (() => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('lz4/build/Release/lz4.node') as NativeLz4Into;
  } catch {
    return null;
  }
})();

/**
 * Decodes the LZ4 block src[srcStart, srcEnd) into dst[dstStart, dstEnd), which must be filled
 * exactly; the native decoder for large blocks when it is built, else the TypeScript one.
 */
export function lz4DecompressInto(
  src: Buffer,
  srcStart: number,
  srcEnd: number,
  dst: Buffer,
  dstStart: number,
  dstEnd: number,
): void {
  const size = dstEnd - dstStart;
  if (nativeInto !== null && size >= LZ4_NATIVE_MIN_BYTES && srcEnd <= src.length && dstEnd <= dst.length) {
    const n = nativeInto.uncompress(src, dst.subarray(dstStart, dstEnd), srcStart, srcEnd);
    if (n !== size) throw corrupt(n < 0 ? `error at input offset ${-n}` : `decoded ${n} bytes, declared ${size}`);
    return;
  }
  lz4DecompressBlock(src, srcStart, srcEnd, dst, dstStart, dstEnd);
}

/** True when the native decoder is loaded (reported by the benchmark). */
export function lz4NativeAvailable(): boolean {
  return nativeInto !== null;
}

const MIN_MATCH = 4;
// The last match must start at least 12 bytes before the end and the last 5 bytes are literals
// (lz4.c MFLIMIT / LASTLITERALS): ClickHouse's decoder (src/Compression/LZ4_decompress_faster.cpp)
// over-copies and relies on both.
const MF_LIMIT = 12;
const LAST_LITERALS = 5;
const MAX_OFFSET = 65535;
const HASH_LOG = 16;

/** Largest LZ4 block for `n` input bytes (lz4.h LZ4_COMPRESSBOUND). */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

function corrupt(what: string): CompressionError {
  return new CompressionError(`corrupt LZ4 block: ${what}`);
}

/**
 * Decodes the LZ4 block src[srcStart, srcEnd) into dst[dstStart, dstEnd), which must be filled
 * exactly. Never writes outside [dstStart, dstEnd), never reads outside [srcStart, srcEnd);
 * any inconsistency is a CompressionError.
 */
export function lz4DecompressBlock(
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
  dst: Uint8Array,
  dstStart: number,
  dstEnd: number,
): void {
  let ip = srcStart;
  let op = dstStart;
  if (ip >= srcEnd) {
    if (dstEnd === dstStart) return;
    throw corrupt('empty input');
  }
  for (;;) {
    if (ip >= srcEnd) throw corrupt('truncated sequence');
    const token = src[ip++];
    // literals
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= srcEnd) throw corrupt('truncated literal length');
        b = src[ip++];
        litLen += b;
      } while (b === 255);
    }
    if (litLen > 0) {
      if (litLen > srcEnd - ip) throw corrupt('literals past the end of the input');
      if (litLen > dstEnd - op) throw corrupt('literals past the declared size');
      if (litLen < 32) {
        for (let i = 0; i < litLen; i++) dst[op + i] = src[ip + i];
      } else {
        dst.set(src.subarray(ip, ip + litLen), op);
      }
      ip += litLen;
      op += litLen;
    }
    if (ip === srcEnd) break; // the last sequence has no match
    // match
    if (srcEnd - ip < 2) throw corrupt('truncated offset');
    const offset = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    if (offset === 0 || offset > op - dstStart) throw corrupt(`match offset ${offset} out of range`);
    let matchLen = token & 15;
    if (matchLen === 15) {
      let b: number;
      do {
        if (ip >= srcEnd) throw corrupt('truncated match length');
        b = src[ip++];
        matchLen += b;
      } while (b === 255);
    }
    matchLen += MIN_MATCH;
    if (matchLen > dstEnd - op) throw corrupt('match past the declared size');
    let from = op - offset;
    if (offset >= matchLen && matchLen >= 32) {
      dst.copyWithin(op, from, from + matchLen);
      op += matchLen;
    } else if (matchLen >= 64) {
      // Overlapping copy of a repeating pattern (runs of zeros, constant columns): lay down one
      // period, then double the copied span so that each copyWithin is non-overlapping.
      const mEnd = op + matchLen;
      for (let i = 0; i < offset; i++) dst[op + i] = dst[from + i];
      let span = offset;
      op += offset;
      while (op < mEnd) {
        const n = Math.min(span, mEnd - op);
        dst.copyWithin(op, op - span, op - span + n);
        op += n;
        span += n;
      }
    } else {
      const mEnd = op + matchLen;
      while (op < mEnd) dst[op++] = dst[from++];
    }
  }
  if (op !== dstEnd) throw corrupt(`decoded ${op - dstStart} bytes, declared ${dstEnd - dstStart}`);
}

/**
 * Decodes the LZ4 block src[srcStart, srcEnd) of `decompressedBytes` bytes into a new Buffer
 * (see lz4DecompressInto for which decoder runs).
 */
export function lz4Decompress(src: Uint8Array, srcStart: number, srcEnd: number, decompressedBytes: number): Buffer {
  const out = Buffer.allocUnsafe(decompressedBytes);
  const input = Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  lz4DecompressInto(input, srcStart, srcEnd, out, 0, decompressedBytes);
  return out;
}

const hashTable = new Int32Array(1 << HASH_LOG);

function read32(s: Uint8Array, p: number): number {
  return s[p] | (s[p + 1] << 8) | (s[p + 2] << 16) | (s[p + 3] << 24);
}

/**
 * Compresses src[start, end) into one LZ4 block written at dst[dstPos] (room for
 * lz4CompressBound(end - start) bytes needed); returns the number of bytes written. Greedy
 * single-probe matcher (lz4.c's fast mode): compression ratio close to LZ4_compress_default.
 */
export function lz4CompressBlock(src: Uint8Array, start: number, end: number, dst: Uint8Array, dstPos: number): number {
  const n = end - start;
  let op = dstPos;
  let anchor = start;
  if (n >= MF_LIMIT + 1) {
    // Smaller table for small inputs, so that clearing it does not dominate.
    let hashLog = 8;
    while (hashLog < HASH_LOG && 1 << hashLog < n) hashLog++;
    const shift = 32 - hashLog;
    const table = hashTable;
    table.fill(-1, 0, 1 << hashLog);
    const mfLimit = end - MF_LIMIT;
    const matchLimit = end - LAST_LITERALS;
    let ip = start;
    let step = 0;
    while (ip < mfLimit) {
      const seq = read32(src, ip);
      const h = Math.imul(seq, 2654435761) >>> shift;
      let ref = table[h];
      table[h] = ip;
      if (ref < 0 || ip - ref > MAX_OFFSET || read32(src, ref) !== seq) {
        ip += 1 + (step++ >> 6); // skip faster through incompressible data (lz4.c acceleration)
        continue;
      }
      step = 0;
      // extend backwards over literals that also match
      while (ip > anchor && ref > start && src[ip - 1] === src[ref - 1]) {
        ip--;
        ref--;
      }
      let len = MIN_MATCH;
      while (ip + len < matchLimit && src[ip + len] === src[ref + len]) len++;
      op = writeSequence(src, anchor, ip - anchor, ip - ref, len, dst, op);
      ip += len;
      anchor = ip;
      if (ip - 2 >= start && ip < mfLimit) table[Math.imul(read32(src, ip - 2), 2654435761) >>> shift] = ip - 2;
    }
  }
  // last literals
  const litLen = end - anchor;
  op = writeLength(litLen, 0, dst, op);
  dst.set(src.subarray(anchor, end), op);
  return op + litLen - dstPos;
}

/** Token + literal-length bytes; returns the new output position. */
function writeLength(litLen: number, matchNibble: number, dst: Uint8Array, op: number): number {
  if (litLen >= 15) {
    dst[op++] = 0xf0 | matchNibble;
    let rest = litLen - 15;
    while (rest >= 255) {
      dst[op++] = 255;
      rest -= 255;
    }
    dst[op++] = rest;
  } else {
    dst[op++] = (litLen << 4) | matchNibble;
  }
  return op;
}

function writeSequence(
  src: Uint8Array,
  litStart: number,
  litLen: number,
  offset: number,
  matchLen: number,
  dst: Uint8Array,
  op: number,
): number {
  const ml = matchLen - MIN_MATCH;
  op = writeLength(litLen, ml >= 15 ? 15 : ml, dst, op);
  if (litLen < 32) for (let i = 0; i < litLen; i++) dst[op + i] = src[litStart + i];
  else dst.set(src.subarray(litStart, litStart + litLen), op);
  op += litLen;
  dst[op++] = offset & 0xff;
  dst[op++] = offset >>> 8;
  if (ml >= 15) {
    let rest = ml - 15;
    while (rest >= 255) {
      dst[op++] = 255;
      rest -= 255;
    }
    dst[op++] = rest;
  }
  return op;
}
