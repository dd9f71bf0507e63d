/**
 * Cached bytes in a buffer of their own. Buffer.concat takes small results from Node's shared 8 KiB pool: a cached
 * entry of a few hundred bytes would then keep a whole 8 KiB slab alive for its lifetime, and the cache's byte budget
 * would undercount real memory by up to 10× (docs/reliability.md, soak finding).
 */
export function ownedConcat(parts: readonly Uint8Array[], total?: number): Buffer {
  const size = total ?? parts.reduce((n, p) => n + p.length, 0);
  const out = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  if (at !== size) throw new Error(`ownedConcat: wrote ${at} of ${size} bytes`); // a bug here, not bad input
  return out;
}
