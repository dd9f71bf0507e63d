/**
 * Recorded server packets: one result packet in uncompressed form, as the result cache keeps it, and its re-encoding
 * for a client that asked for compression. Only the block of Data/Totals/Extremes is ever compressed; the packet code
 * and table name travel in clear (native-protocol.md §10.2, §11.2; TCPHandler::sendData writes them to the raw
 * buffer, the block to the compressed one).
 */
import { ServerCode } from './codes';
import {
  CompressionMethod,
  DEFAULT_FRAME_DATA_BYTES,
  decompressFrame,
  encodeFrames,
  methodFromSetting,
  readFrameHeader,
  ZSTD_DEFAULT_LEVEL,
} from './compression';
import { ChErrorCode, CompressionError, isNeedMoreData, LimitError, MalformedError } from './errors';
import type { FramedPacket } from './framer';
import { Reader } from './io/reader';
import { DEFAULT_LIMITS, Limits } from './limits';
import type { ClientQuery } from './packets';

/** One whole uncompressed server packet. */
export interface RecordedPacket {
  /** The packet's bytes: code, then for block packets the table name and the block, uncompressed. */
  bytes: Buffer;
  /**
   * Offset of the block inside `bytes` (after code and table name) for Data/Totals/Extremes, the packets whose block
   * is compressed when the query asks for it; 0 for every other packet. Never equal to bytes.length: a block is never
   * empty (see encodeForClient).
   */
  blockStart: number;
}

/** How a client wants result blocks framed: the Query's compression flag was set, with this method. */
export interface ClientCompression {
  method: CompressionMethod;
  /** ZSTD level (network_zstd_compression_level); LZ4 and NONE ignore it. */
  level?: number;
}

/** Server packets whose block is wrapped in compressed frames when compression is on (TCPHandler::sendData). */
const COMPRESSIBLE_BLOCK_CODES: ReadonlySet<number> = new Set([ServerCode.Data, ServerCode.Totals, ServerCode.Extremes]);

/** ZSTD_minCLevel() / ZSTD_maxCLevel() of the zstd library (lib/zstd.h). */
const ZSTD_MIN_LEVEL = -(1 << 17);
const ZSTD_MAX_LEVEL = 22;

/**
 * The uncompressed form of a server packet framed by the Framer. An uncompressed packet keeps its bytes (one chunk as
 * is, several concatenated); a compressed Data/Totals/Extremes packet becomes its code and table name followed by the
 * decompressed frames, each checksum verified even if the framer did not verify them. Throws the codec's typed errors
 * (MalformedError, LimitError, ChecksumError, CompressionError) on bad input; sizes are checked against `limits`
 * before the output is allocated.
 */
export function recordPacket(p: FramedPacket, limits: Limits = DEFAULT_LIMITS): RecordedPacket {
  const raw = p.chunks.length === 1 ? p.chunks[0] : Buffer.concat(p.chunks);
  if (raw.length === 0) throw new MalformedError('a recorded packet has no bytes');
  if (p.block === undefined || !COMPRESSIBLE_BLOCK_CODES.has(p.code)) {
    // Log and ProfileEvents blocks are never compressed below revision 54481 (framer.ts); other packets have no block.
    if (p.compressed) throw new MalformedError(`packet ${p.code} carries compressed frames but is not Data, Totals or Extremes`);
    return { bytes: raw, blockStart: 0 };
  }
  const blockStart = blockHeaderEnd(raw, p.code, limits);
  if (!p.compressed) {
    if (blockStart >= raw.length) throw new MalformedError(`block packet ${p.code} ends before its block`);
    return { bytes: raw, blockStart };
  }
  return { bytes: decompressBlock(raw, blockStart, limits), blockStart };
}

/** Offset after the VarUInt code and the String table name of a block packet. */
function blockHeaderEnd(bytes: Buffer, code: number, limits: Limits): number {
  const r = new Reader(bytes, 0, bytes.length, limits);
  try {
    const got = r.varUInt();
    if (got !== code) throw new MalformedError(`packet bytes start with code ${got}, framed as ${code}`);
    r.skipString();
  } catch (e) {
    if (isNeedMoreData(e)) throw new MalformedError(`block packet ${code} ends inside its code or table name`);
    throw e;
  }
  return r.pos;
}

/** `raw[0, blockStart)` followed by the decompressed frames that fill the rest of `raw`. */
function decompressBlock(raw: Buffer, blockStart: number, limits: Limits): Buffer {
  // Headers first: the output is sized, and checked against maxBlockBytes, before anything is allocated.
  let total = 0;
  let frames = 0;
  for (let pos = blockStart; pos < raw.length; frames++) {
    const h = readFrameHeader(raw, pos, raw.length, limits);
    if (h === null || raw.length - pos < h.frameBytes) throw new MalformedError('compressed block ends inside a frame');
    total += h.decompressedBytes;
    if (total > limits.maxBlockBytes) throw new LimitError('maxBlockBytes', total, limits.maxBlockBytes);
    pos += h.frameBytes;
  }
  // A block holds at least its BlockInfo and two counts, and ClickHouse writes no frame for empty data (§11.1).
  if (frames === 0 || total === 0) throw new MalformedError('compressed block packet without block bytes');
  const out = Buffer.allocUnsafe(blockStart + total);
  raw.copy(out, 0, 0, blockStart);
  let at = blockStart;
  for (let pos = blockStart; pos < raw.length; ) {
    const f = decompressFrame(raw, pos, raw.length, limits, { verifyChecksum: true, into: out, intoOffset: at });
    if (f === null) throw new MalformedError('compressed block ends inside a frame'); // sizes were checked above
    pos += f.frameBytes;
    at += f.data.length;
  }
  return out;
}

/**
 * The bytes to send a client for a recorded packet: the packet as recorded when the client did not ask for compression
 * (or the packet has no compressible block); otherwise its code and table name (a view, no copy) followed by the block
 * in frames of at most 1 MiB of block bytes, with the client's method, as CompressedWriteBuffer cuts them.
 *
 * An empty block never occurs: even a block with no columns and no rows has its BlockInfo and two counts (the final
 * empty Data packet of a SELECT is one 10-byte frame, [captured] cli_lz4_select1), and encodeFrames writes no frame
 * for empty data, which would leave the client waiting for a block. So an empty block is rejected (MalformedError).
 */
export function encodeForClient(rec: RecordedPacket, compression: ClientCompression | null): Buffer[] {
  if (compression === null || rec.blockStart === 0) return [rec.bytes];
  if (rec.blockStart >= rec.bytes.length) throw new MalformedError('recorded block packet has an empty block');
  // Codes below 128 are one VarUInt byte.
  if (!COMPRESSIBLE_BLOCK_CODES.has(rec.bytes[0])) {
    throw new MalformedError(`recorded packet ${rec.bytes[0]} has a block offset but is not Data, Totals or Extremes`);
  }
  const frames = encodeFrames(rec.bytes.subarray(rec.blockStart), compression.method, DEFAULT_FRAME_DATA_BYTES, {
    level: compression.level,
  });
  return [rec.bytes.subarray(0, rec.blockStart), ...frames];
}

/**
 * How the server frames the result of this Query (native-protocol.md §11.2): null without the compression flag;
 * otherwise the method of network_compression_method (default LZ4) and the level of network_zstd_compression_level
 * (default 1), the last occurrence of each setting winning as the server applies them in order. Throws
 * CompressionError for a method this codec cannot write (e.g. DEFLATE_QPL) or a level that is not an integer: the
 * caller should then let the backend answer. Levels outside zstd's range are clamped to it, as the zstd library does.
 */
export function clientCompression(q: Pick<ClientQuery, 'compression' | 'settings'>): ClientCompression | null {
  if (!q.compression) return null;
  let method: CompressionMethod = CompressionMethod.LZ4;
  let level = ZSTD_DEFAULT_LEVEL;
  for (const s of q.settings) {
    if (s.name === 'network_compression_method') method = methodFromSetting(s.value);
    else if (s.name === 'network_zstd_compression_level') level = zstdLevel(s.value);
  }
  return { method, level };
}

function zstdLevel(text: string): number {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) {
    throw new CompressionError(`network_zstd_compression_level '${t.slice(0, 40)}' is not an integer`, ChErrorCode.INCORRECT_DATA);
  }
  return Math.min(ZSTD_MAX_LEVEL, Math.max(ZSTD_MIN_LEVEL, Number(t)));
}
