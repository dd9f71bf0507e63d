/**
 * The recorder: a bounded tee of the uncompressed server packets of one result while they stream to the client. It
 * never pushes back on the stream; past the cap it gives up, drops what it held, and the query streams on uncached.
 *
 * Chunks are kept by reference, not copied: the framer's views are never mutated after they are handed out
 * (docs/style.md §2.4). One copy happens in finish().
 */
export class Recorder {
  private chunks: Buffer[] = [];
  private total = 0;
  private gaveUp = false;
  private done = false;

  constructor(private readonly maxBytes: number) {
    if (!(maxBytes >= 0)) throw new RangeError('Recorder: maxBytes must be >= 0');
  }

  /**
   * Records packet bytes; false (from then on) once the total would exceed maxBytes, after dropping everything, and
   * after finish(). The caller must not mutate `packetBytes` afterwards.
   */
  add(packetBytes: Buffer): boolean {
    if (this.gaveUp || this.done) return false;
    if (this.total + packetBytes.length > this.maxBytes) {
      this.abandon();
      return false;
    }
    if (packetBytes.length > 0) this.chunks.push(packetBytes);
    this.total += packetBytes.length;
    return true;
  }

  /** Gives up on this result (over the cap, or the query failed): drops the bytes; finish() will return null. */
  abandon(): void {
    this.gaveUp = true;
    this.chunks = [];
    this.total = 0;
  }

  /** True once the recorder gave up. */
  get abandoned(): boolean {
    return this.gaveUp;
  }

  /** Bytes recorded so far. */
  get bytes(): number {
    return this.total;
  }

  /** All recorded bytes in one new buffer, or null if abandoned or already finished. Ends the recording. */
  finish(): Buffer | null {
    if (this.gaveUp || this.done) return null;
    this.done = true;
    const out = Buffer.concat(this.chunks, this.total);
    this.chunks = [];
    return out;
  }
}
