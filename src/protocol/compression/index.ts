/** Public surface of ClickHouse compressed frames: framing, checksum, and the block codecs behind them. */
export {
  CHECKSUM_BYTES,
  CompressionMethod,
  DEFAULT_FRAME_DATA_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_INNER_HEADER_BYTES,
  decompressFrame,
  decompressFrameInto,
  encodeFrame,
  encodeFrames,
  methodFromSetting,
  readFrameHeader,
} from './frame';
export type { DecodedFrame, FrameHeader } from './frame';
export { checksumMatches, cityHash128, cityHash128Into } from './cityhash128';
export { lz4CompressBlock, lz4CompressBound, lz4Decompress, lz4DecompressBlock, lz4NativeAvailable } from './lz4';
export { ZSTD_DEFAULT_LEVEL, zstdCompress, zstdDecompress } from './zstd';
