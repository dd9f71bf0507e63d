import { CompressionMethod, encodeFrames } from './compression';
import { Writer } from './io/writer';

/**
 * Writes a block-bearing packet (client Data/Scalar; server Data/Totals/Extremes/Log/ProfileEvents):
 * code, table name in clear, then the block bytes, wrapped in compressed frames when `method` is
 * given (only the block is compressed, native-protocol.md §6.2, §11.2). Frames are cut at 1 MiB of
 * block bytes as ClickHouse's CompressedWriteBuffer does.
 */
export function encodeBlockPacket(
  w: Writer,
  code: number,
  tableName: string,
  block: Uint8Array,
  method: CompressionMethod | null = null,
  maxFrameDataBytes = 1 << 20,
): void {
  w.varUInt(code).string(tableName);
  if (method === null) {
    w.raw(block);
    return;
  }
  for (const frame of encodeFrames(block, method, maxFrameDataBytes)) w.raw(frame);
}
