/**
 * Replay: a cached result as the bytes a client receives after its Query, ending with EndOfStream (which the entry
 * does not store). Blocks are re-compressed with the client's own method, since entries hold them uncompressed.
 */
import { encodeForClient, ServerCode, type ClientCompression } from '../protocol';
import { entryPackets, type Entry } from './entry';

/**
 * Every packet of `e` encoded for a client with `compression` (null: the client did not ask for compression), then
 * EndOfStream. Without compression the stored packets are already what the client reads: they go out as one view.
 */
export function replayEntry(e: Entry, compression: ClientCompression | null): Buffer[] {
  const out: Buffer[] = [];
  if (compression === null) {
    if (e.packets.length > 0) out.push(e.packets);
  } else {
    for (const rec of entryPackets(e)) for (const b of encodeForClient(rec, compression)) out.push(b);
  }
  // A fresh byte each time: a caller may hand the buffers to sockets, which must not share a mutable constant.
  out.push(Buffer.of(ServerCode.EndOfStream));
  return out;
}
