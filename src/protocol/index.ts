/** The ClickHouse native-protocol codec: pure (no I/O, timers or logs). Other folders import only this file. */
export * from './errors';
export * from './limits';
export * from './revision';
export * from './codes';
export { Reader } from './io/reader';
export { Writer } from './io/writer';
export * from './packets';
export * from './block';
export {
  cityHash128,
  cityHash128Into,
  checksumMatches,
  readFrameHeader,
  decompressFrame,
  encodeFrame,
  encodeFrames,
  methodFromSetting,
  FRAME_HEADER_BYTES,
} from './compression';
export { encodeBlockPacket } from './block-packet';
export { clientCompression, encodeForClient, recordPacket } from './recorded-packet';
export type { ClientCompression, RecordedPacket } from './recorded-packet';
export * from './framer';
