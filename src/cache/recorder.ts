/**
 * The recorder: a bounded tee of the uncompressed server packets of one result while they stream to the client. It
 * never pushes back on the stream; past the cap it gives up, drops what it held, and the query streams on uncached.
 *
 * Packets are kept by reference, not copied: the framer's views are never mutated after they are handed out
 * (docs/style.md §2.4), and recordPacket's decompressed buffers belong to the caller. One copy happens in finish().
 */
import { ownedConcat } from './owned-buffer';
import type { RecordedPacket } from '../protocol';
import { ENTRY_INDEX_BYTES_PER_PACKET } from './entry';

/** What a finished recording holds: the packets back to back and their index, as makeEntry takes them. */
export interface RecordedResult {
  packets: Buffer;
  /** Pairs [packetEnd, blockStart] in absolute offsets within `packets` (Entry.index). */
  index: Uint32Array;
}

export class Recorder {
  private recorded: RecordedPacket[] = [];
  /** Packet bytes recorded. */
  private packetBytes = 0;
  private gaveUp = false;
  private done = false;

  /** `maxBytes` bounds what the result adds to an entry: its packet bytes plus 8 index bytes per packet. */
  constructor(private readonly maxBytes: number) {
    if (!(maxBytes >= 0)) throw new RangeError('Recorder: maxBytes must be >= 0');
  }

  /**
   * Records one packet (in stream order); false (from then on) once the packets and their index would exceed maxBytes,
   * after dropping everything, and after finish(). The caller must not mutate `rec.bytes` afterwards. A packet with no
   * bytes or a block offset outside it is a caller bug: RangeError.
   */
  add(rec: RecordedPacket): boolean {
    const n = rec.bytes.length;
    if (n === 0) throw new RangeError('Recorder: a packet has at least its code byte');
    if (rec.blockStart !== 0 && !(rec.blockStart >= 2 && rec.blockStart < n)) {
      throw new RangeError(`Recorder: block offset ${rec.blockStart} outside a packet of ${n} bytes`);
    }
    if (this.gaveUp || this.done) return false;
    if (this.bytes + n + ENTRY_INDEX_BYTES_PER_PACKET > this.maxBytes) {
      this.abandon();
      return false;
    }
    this.recorded.push(rec);
    this.packetBytes += n;
    return true;
  }

  /** Gives up on this result (over the cap, or the query failed): drops the packets; finish() will return null. */
  abandon(): void {
    this.gaveUp = true;
    this.recorded = [];
    this.packetBytes = 0;
  }

  /** True once the recorder gave up. */
  get abandoned(): boolean {
    return this.gaveUp;
  }

  /** What the packets recorded so far add to an entry (packet bytes + index bytes); what maxBytes bounds. */
  get bytes(): number {
    return this.packetBytes + this.recorded.length * ENTRY_INDEX_BYTES_PER_PACKET;
  }

  /** The packets in one new buffer with their index, or null if abandoned or already finished. Ends the recording. */
  finish(): RecordedResult | null {
    if (this.gaveUp || this.done) return null;
    this.done = true;
    const index = new Uint32Array(this.recorded.length * 2);
    let end = 0;
    this.recorded.forEach((rec, i) => {
      index[2 * i + 1] = rec.blockStart === 0 ? 0 : end + rec.blockStart;
      end += rec.bytes.length;
      index[2 * i] = end;
    });
    const packets = ownedConcat(
      this.recorded.map((r) => r.bytes),
      this.packetBytes,
    );
    this.recorded = [];
    return { packets, index };
  }
}
