/**
 * The raw chunks of one direction, kept until the packets they belong to are complete, so a
 * packet can be forwarded as views of the bytes that arrived (no copy). Chunks are never
 * modified; a view handed out stays valid (style.md §2.4).
 */
const EMPTY = Buffer.alloc(0);

export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  /** Absolute offset of chunks[head][0]. */
  private headStart = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  /**
   * Views covering absolute [start, end); everything before `end` is then released.
   * `start` must not be before the first byte still held.
   */
  take(start: number, end: number): Buffer[] {
    // Most packets lie in one chunk: that view goes out in a one-element array made at the end, not in an empty
    // array grown by push (a 17-slot backing store per packet).
    let first: Buffer | null = null;
    let more: Buffer[] | null = null;
    let at = this.headStart;
    let i = this.head;
    // Skip chunks that end before start (bytes already released by an earlier take).
    while (i < this.chunks.length && at + this.chunks[i].length <= start) {
      at += this.chunks[i].length;
      i++;
    }
    let j = i;
    let jAt = at;
    while (j < this.chunks.length && jAt < end) {
      const c = this.chunks[j];
      const from = Math.max(start - jAt, 0);
      const to = Math.min(end - jAt, c.length);
      if (to > from) {
        const piece = from === 0 && to === c.length ? c : c.subarray(from, to);
        if (first === null) first = piece;
        else if (more === null) more = [first, piece];
        else more.push(piece);
      }
      if (jAt + c.length <= end) {
        jAt += c.length;
        j++;
      } else break;
    }
    // Release whole chunks before `end`, dropping the references at once: a released chunk still held by this
    // array (up to 64 of them before the compaction below) would outlive its packet by many reads.
    for (let k = this.head; k < j; k++) this.chunks[k] = EMPTY;
    this.head = j;
    this.headStart = jAt;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    return more ?? (first === null ? [] : [first]);
  }
}
