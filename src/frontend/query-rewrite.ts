import { ClientQuery, encodeClientPacket, Setting, Writer } from '../protocol';

/**
 * The settings a forwarded Query carries: the session's recorded SETs first, then the query's
 * own, which win (architecture.md "Sessions on pooled connections").
 */
export function mergeSettings(session: ReadonlyMap<string, string>, own: readonly Setting[], enforced: readonly Setting[] = []): Setting[] {
  // Settings the operator injects (per user, per routing rule) win over the client's.
  const enforcedNames = new Set(enforced.map((s) => s.name));
  const ownNames = new Set(own.map((s) => s.name));
  const merged: Setting[] = [];
  for (const [name, value] of session) if (!ownNames.has(name) && !enforcedNames.has(name)) merged.push({ name, value, flags: 0 });
  for (const s of own) if (!enforcedNames.has(s.name)) merged.push(s);
  return merged.concat(enforced);
}

/** Re-encodes a client's Query with other settings (the only packet the proxy rewrites). */
export function rewriteQuery(q: ClientQuery, settings: Setting[], revision: number): Buffer {
  const w = new Writer(256 + q.query.length * 3);
  encodeClientPacket(w, { ...q, settings }, revision);
  return w.toBuffer();
}
