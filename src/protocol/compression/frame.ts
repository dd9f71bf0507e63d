/**
 * ClickHouse compressed frames (native-protocol.md §11; src/Compression/CompressionInfo.h,
 * CompressedReadBufferBase.cpp, CompressedWriteBuffer.cpp):
 *
 *   16 bytes  CityHash128 v1.0.2 of everything after it (low 64 bits LE, then high 64 bits LE)
 *    1 byte   method (0x02 NONE, 0x82 LZ4/LZ4HC, 0x90 ZSTD)
 *    4 bytes  UInt32 LE compressed size, including these 9 header bytes, excluding the checksum
 *    4 bytes  UInt32 LE decompressed size
 *   compressed size - 9 bytes of payload
 */
import { ChecksumError, ChErrorCode, CompressionError, LimitError, MalformedError } from '../errors';
import { Limits } from '../limits';
import { checksumMatches, cityHash128Into } from './cityhash128';
import { lz4CompressBlock, lz4CompressBound, lz4Decompress, lz4DecompressInto } from './lz4';
import { ZSTD_DEFAULT_LEVEL, zstdCompress, zstdDecompress } from './zstd';

/** Method bytes on the wire (CompressionMethodByte in src/Compression/CompressionInfo.h). */
export const CompressionMethod = {
  None: 0x02,
  LZ4: 0x82, // LZ4 and LZ4HC share the byte: same block format
  ZSTD: 0x90,
} as const;
export type CompressionMethod = (typeof CompressionMethod)[keyof typeof CompressionMethod];

export const CHECKSUM_BYTES = 16;
/** Method byte + compressed size + decompressed size (COMPRESSED_BLOCK_HEADER_SIZE). */
export const FRAME_INNER_HEADER_BYTES = 9;
/** Checksum + inner header: what must be present to know a frame's length. */
export const FRAME_HEADER_BYTES = CHECKSUM_BYTES + FRAME_INNER_HEADER_BYTES;
/** Decompressed bytes per frame written by ClickHouse (DBMS_DEFAULT_BUFFER_SIZE; [captured] cli_lz4_large_select). */
export const DEFAULT_FRAME_DATA_BYTES = 1 << 20;
/** DBMS_MAX_COMPRESSED_SIZE (src/Compression/CompressedReadBufferBase.cpp): also our encoder's cap. */
const MAX_COMPRESSED_SIZE = 0x40000000;

export interface FrameHeader {
  method: CompressionMethod;
  /** Compressed size field: inner header + payload. */
  compressedBytes: number;
  decompressedBytes: number;
  /** Whole frame on the wire: checksum + compressedBytes. */
  frameBytes: number;
}

export interface DecodedFrame {
  /** Decompressed bytes; for method NONE a view of the input (no copy). */
  data: Buffer;
  frameBytes: number;
  method: CompressionMethod;
}

function u32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

function isMethod(m: number): m is CompressionMethod {
  return m === CompressionMethod.None || m === CompressionMethod.LZ4 || m === CompressionMethod.ZSTD;
}

/**
 * Reads the 25-byte header of the frame at buf[pos]; null when fewer than 25 bytes are available
 * before `end`. Throws, before anything is allocated: CompressionError for a method other than
 * NONE/LZ4/ZSTD, LimitError for sizes above the limits, MalformedError for a compressed size below 9.
 */
export function readFrameHeader(buf: Uint8Array, pos: number, end: number, limits: Limits): FrameHeader | null {
  if (end - pos < FRAME_HEADER_BYTES) return null;
  const method = buf[pos + CHECKSUM_BYTES];
  // Same order as CompressedReadBufferBase::readCompressedData: method, then sizes.
  if (!isMethod(method)) {
    throw new CompressionError(
      `unknown compression method byte 0x${method.toString(16).padStart(2, '0')}`,
      ChErrorCode.UNKNOWN_COMPRESSION_METHOD,
    );
  }
  const compressedBytes = u32(buf, pos + CHECKSUM_BYTES + 1);
  const decompressedBytes = u32(buf, pos + CHECKSUM_BYTES + 5);
  if (compressedBytes > limits.maxCompressedFrameBytes) {
    throw new LimitError('maxCompressedFrameBytes', compressedBytes, limits.maxCompressedFrameBytes);
  }
  if (compressedBytes < FRAME_INNER_HEADER_BYTES) {
    throw new MalformedError(`compressed frame size ${compressedBytes} is below the ${FRAME_INNER_HEADER_BYTES}-byte header`);
  }
  if (decompressedBytes > limits.maxDecompressedFrameBytes) {
    throw new LimitError('maxDecompressedFrameBytes', decompressedBytes, limits.maxDecompressedFrameBytes);
  }
  return { method, compressedBytes, decompressedBytes, frameBytes: CHECKSUM_BYTES + compressedBytes };
}

const scratchHash = Buffer.alloc(CHECKSUM_BYTES);

/**
 * Decodes the whole frame at buf[pos]; null when it does not fit before `end` yet. Verifies the
 * checksum (unless verifyChecksum is false) before decompressing: ChecksumError carries both
 * hashes (the 16 wire bytes in hex). The result has exactly the declared decompressed size,
 * otherwise CompressionError.
 */
export function decompressFrame(
  buf: Uint8Array,
  pos: number,
  end: number,
  limits: Limits,
  opts?: {
    verifyChecksum?: boolean;
    /** Decompress into this buffer at `intoOffset` (it must have room) instead of a new one. */
    into?: Buffer;
    intoOffset?: number;
  },
): DecodedFrame | null {
  const h = readFrameHeader(buf, pos, end, limits);
  if (h === null || end - pos < h.frameBytes) return null;
  const into = opts?.into;
  if (into && Buffer.isBuffer(buf)) {
    const at = opts?.intoOffset ?? 0;
    decompressFrameInto(buf, pos, h, opts?.verifyChecksum !== false, into, at);
    return { data: into.subarray(at, at + h.decompressedBytes), frameBytes: h.frameBytes, method: h.method };
  }
  const hashed = pos + CHECKSUM_BYTES;
  const frameEnd = pos + h.frameBytes;
  if (opts?.verifyChecksum !== false) verifyChecksum(buf, pos, hashed, frameEnd);
  const payload = pos + FRAME_HEADER_BYTES;
  let data: Buffer;
  switch (h.method) {
    case CompressionMethod.None:
      checkStoredSize(h);
      data = Buffer.from(buf.buffer, buf.byteOffset + payload, h.decompressedBytes);
      break;
    case CompressionMethod.LZ4:
      data = lz4Decompress(buf, payload, frameEnd, h.decompressedBytes);
      break;
    case CompressionMethod.ZSTD:
      data = Buffer.allocUnsafe(h.decompressedBytes);
      zstdDecompress(buf, payload, frameEnd, data, 0, h.decompressedBytes);
      break;
  }
  return { data, frameBytes: h.frameBytes, method: h.method };
}

/** CompressionCodecNone::doDecompressData: the payload is the data, so the two sizes must agree. */
function checkStoredSize(h: FrameHeader): void {
  if (h.compressedBytes - FRAME_INNER_HEADER_BYTES !== h.decompressedBytes) {
    throw new CompressionError(
      `uncompressed frame carries ${h.compressedBytes - FRAME_INNER_HEADER_BYTES} bytes, declared ${h.decompressedBytes}`,
    );
  }
}

function verifyChecksum(buf: Uint8Array, pos: number, hashed: number, frameEnd: number): void {
  if (checksumMatches(buf, hashed, frameEnd, buf, pos)) return;
  cityHash128Into(buf, hashed, frameEnd, scratchHash, 0);
  throw new ChecksumError(hex(buf, pos, pos + CHECKSUM_BYTES), hex(scratchHash, 0, CHECKSUM_BYTES));
}

/**
 * The frame at buf[pos] (whole, with header `h` from readFrameHeader) decompressed into into[at, at + h.decompressedBytes),
 * the checksum verified first when `verify`. Allocates nothing: the framer's path for every frame it sizes.
 */
export function decompressFrameInto(buf: Buffer, pos: number, h: FrameHeader, verify: boolean, into: Buffer, at: number): void {
  const hashed = pos + CHECKSUM_BYTES;
  const frameEnd = pos + h.frameBytes;
  if (frameEnd > buf.length) throw new RangeError('decompressFrameInto: the frame is not whole');
  if (verify) verifyChecksum(buf, pos, hashed, frameEnd);
  if (into.length - at < h.decompressedBytes) throw new RangeError('decompressFrameInto: the output buffer is too small');
  const payload = pos + FRAME_HEADER_BYTES;
  switch (h.method) {
    case CompressionMethod.None:
      checkStoredSize(h);
      buf.copy(into, at, payload, frameEnd);
      break;
    case CompressionMethod.LZ4:
      lz4DecompressInto(buf, payload, frameEnd, into, at, at + h.decompressedBytes);
      break;
    case CompressionMethod.ZSTD:
      zstdDecompress(buf, payload, frameEnd, into, at, at + h.decompressedBytes);
      break;
  }
}

function hex(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('hex');
}

/**
 * One frame holding all of `data` (ClickHouse writes nothing for empty data: callers skip it;
 * encodeFrames does). LZ4HC is written with the fast LZ4 encoder: same method byte, same format.
 * `level` is the ZSTD level (default 1, as network_zstd_compression_level).
 */
export function encodeFrame(data: Uint8Array, method: CompressionMethod, opts?: { level?: number }): Buffer {
  if (data.length + FRAME_INNER_HEADER_BYTES > MAX_COMPRESSED_SIZE) {
    throw new LimitError('maxCompressedFrameBytes', data.length, MAX_COMPRESSED_SIZE - FRAME_INNER_HEADER_BYTES);
  }
  let frame: Buffer;
  switch (method) {
    case CompressionMethod.None:
      frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + data.length);
      frame.set(data, FRAME_HEADER_BYTES);
      break;
    case CompressionMethod.LZ4: {
      const big = Buffer.allocUnsafe(FRAME_HEADER_BYTES + lz4CompressBound(data.length));
      const n = lz4CompressBlock(data, 0, data.length, big, FRAME_HEADER_BYTES);
      frame = big.subarray(0, FRAME_HEADER_BYTES + n);
      break;
    }
    case CompressionMethod.ZSTD: {
      const z = zstdCompress(data, 0, data.length, opts?.level ?? ZSTD_DEFAULT_LEVEL);
      frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + z.length);
      frame.set(z, FRAME_HEADER_BYTES);
      break;
    }
    default:
      throw new CompressionError(`cannot encode with method byte ${String(method)}`, ChErrorCode.UNKNOWN_COMPRESSION_METHOD);
  }
  if (frame.length - CHECKSUM_BYTES > MAX_COMPRESSED_SIZE) {
    throw new LimitError('maxCompressedFrameBytes', frame.length - CHECKSUM_BYTES, MAX_COMPRESSED_SIZE);
  }
  frame[CHECKSUM_BYTES] = method;
  frame.writeUInt32LE(frame.length - CHECKSUM_BYTES, CHECKSUM_BYTES + 1);
  frame.writeUInt32LE(data.length, CHECKSUM_BYTES + 5);
  cityHash128Into(frame, CHECKSUM_BYTES, frame.length, frame, 0);
  return frame;
}

/**
 * `data` cut into frames of at most maxFrameDataBytes decompressed bytes each, as ClickHouse's
 * CompressedWriteBuffer does (1 MiB by default). Empty data gives no frames. One method for the
 * whole stream: the reference client rejects a change of method between frames.
 */
export function encodeFrames(
  data: Uint8Array,
  method: CompressionMethod,
  maxFrameDataBytes = DEFAULT_FRAME_DATA_BYTES,
  opts?: { level?: number },
): Buffer[] {
  if (!(Number.isInteger(maxFrameDataBytes) && maxFrameDataBytes > 0)) {
    throw new RangeError(`maxFrameDataBytes must be a positive integer, got ${maxFrameDataBytes}`);
  }
  const frames: Buffer[] = [];
  for (let p = 0; p < data.length; p += maxFrameDataBytes) {
    frames.push(encodeFrame(data.subarray(p, Math.min(data.length, p + maxFrameDataBytes)), method, opts));
  }
  return frames;
}

/**
 * The method byte for a network_compression_method value (case-insensitive, as ClickHouse's
 * CompressionCodecFactory). Other codecs exist (e.g. DEFLATE_QPL, ZSTD_QAT) but are not
 * supported here: CompressionError.
 */
export function methodFromSetting(name: string): CompressionMethod {
  switch (name.trim().toLowerCase()) {
    case 'lz4':
    case 'lz4hc':
      return CompressionMethod.LZ4;
    case 'zstd':
      return CompressionMethod.ZSTD;
    case 'none':
      return CompressionMethod.None;
    default:
      throw new CompressionError(`unsupported network_compression_method '${name}'`, ChErrorCode.UNKNOWN_COMPRESSION_METHOD);
  }
}
