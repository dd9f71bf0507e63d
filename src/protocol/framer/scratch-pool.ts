/**
 * Large scratch buffers that framers let go of when an exchange ends (Framer.releaseIdleScratch), lent to the next
 * framer that needs one. Without it every bulk result allocated its few megabytes of scratch afresh (and the kernel
 * faulted the new pages in: ~1 ms of CPU per 1M-row result, measured); with a per-framer cache instead, every idle
 * connection kept megabytes. This list is process-wide and bounded: memory stays at most MAX_KEPT × MAX_BYTES.
 */
const MAX_KEPT = 4;
/** Larger buffers (one unusually large packet's) are never kept. */
const MAX_BYTES = 4 << 20;

const free: Buffer[] = [];

/** A buffer of at least `minBytes`: the smallest kept one that fits, else a new one of exactly `minBytes`. */
export function takeScratch(minBytes: number): Buffer {
  let best = -1;
  for (let i = 0; i < free.length; i++) {
    if (free[i].length >= minBytes && (best === -1 || free[i].length < free[best].length)) best = i;
  }
  if (best === -1) return Buffer.allocUnsafe(minBytes);
  const b = free[best];
  free[best] = free[free.length - 1];
  free.pop();
  return b;
}

/** Gives `b` back (the caller keeps no view of it). Dropped when too large or when enough are kept. */
export function giveScratch(b: Buffer): void {
  if (b.length === 0 || b.length > MAX_BYTES) return;
  if (free.length < MAX_KEPT) {
    free.push(b);
    return;
  }
  // Full: keep the larger buffers, which are the costly ones to make again.
  let smallest = 0;
  for (let i = 1; i < free.length; i++) if (free[i].length < free[smallest].length) smallest = i;
  if (free[smallest].length < b.length) free[smallest] = b;
}

/** Bytes kept for lending (tests). */
export function keptScratchBytes(): number {
  return free.reduce((n, b) => n + b.length, 0);
}
