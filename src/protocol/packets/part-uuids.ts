import { ClientCode, ServerCode } from '../codes';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';

/**
 * vector<UUID> packets (obsolete query deduplication): client IgnoredPartUUIDs (8), sent before a
 * Query, and server PartUUIDs (12). `VarUInt count; count × UUID` (16 bytes, two LE UInt64 halves),
 * TCPHandler::processIgnoredPartUUIDs / readVectorBinary.
 */
export interface ClientIgnoredPartUUIDs {
  code: typeof ClientCode.IgnoredPartUUIDs;
  /** Canonical UUID text. */
  uuids: string[];
}

export interface ServerPartUUIDs {
  code: typeof ServerCode.PartUUIDs;
  uuids: string[];
}

/** The UUID list (shared body of both packets). */
export function decodeUuidList(r: Reader): string[] {
  const n = r.count(r.limits.maxListEntries, 'maxListEntries');
  r.need(n * 16); // one wait for the whole list instead of a retry per UUID
  const uuids: string[] = [];
  for (let i = 0; i < n; i++) uuids.push(r.uuid());
  return uuids;
}

export function encodeUuidList(w: Writer, uuids: readonly string[]): void {
  w.varUInt(uuids.length);
  for (const u of uuids) w.uuid(u);
}

export function decodeIgnoredPartUUIDs(r: Reader, _rev?: number): ClientIgnoredPartUUIDs {
  return { code: ClientCode.IgnoredPartUUIDs, uuids: decodeUuidList(r) };
}

export function encodeIgnoredPartUUIDs(w: Writer, x: ClientIgnoredPartUUIDs, _rev?: number): void {
  encodeUuidList(w, x.uuids);
}

export function decodePartUUIDs(r: Reader, _rev?: number): ServerPartUUIDs {
  return { code: ServerCode.PartUUIDs, uuids: decodeUuidList(r) };
}

export function encodePartUUIDs(w: Writer, x: ServerPartUUIDs, _rev?: number): void {
  encodeUuidList(w, x.uuids);
}
