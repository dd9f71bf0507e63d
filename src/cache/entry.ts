/**
 * The cache entry: the uncompressed server packets of one complete successful result at one negotiated revision, and
 * what a store needs to expire and invalidate it. The same binary layout is used wherever an entry leaves the process
 * (Redis); the in-memory store keeps Entry objects and never encodes.
 *
 * Layout (all integers little-endian):
 *   magic "GHCE" (4) | u16 format version | u48 createdAt ms | u48 ttlMs | u32 revision
 *   | u32 table count, then per table u32 length + UTF-8 name
 *   | u32 packet count, then per packet u32 packetEnd + u32 blockStart | u32 packets length | packets
 * and nothing after. u48 holds any millisecond timestamp until the year 10889 and stays a safe integer.
 *
 * Version 2 added the packet index: replay needs each packet's boundaries and block offset to re-compress blocks for
 * clients that asked for compression, and packets carry no length (native-protocol.md §1), so without the index
 * replay would have to parse every block again.
 */
import type { RecordedPacket } from '../protocol';
import { CacheEntryError } from './errors';

/**
 * Version of the entry layout AND of what the packets mean (which packets are kept, in which form). It is hashed into
 * every cache key, so bumping it turns every old entry into a miss instead of a misread.
 */
export const ENTRY_FORMAT_VERSION = 2;

/** "GHCE": Gatehouse cache entry. */
const MAGIC = Buffer.from('GHCE', 'latin1');
const HEADER_BYTES = 4 + 2 + 6 + 6 + 4 + 4;
const U48_MAX = 2 ** 48 - 1;
const U32_MAX = 2 ** 32 - 1;
/** One index pair: u32 packetEnd + u32 blockStart. */
export const ENTRY_INDEX_BYTES_PER_PACKET = 8;

/** Sanity limits checked before reading (and before allocating) when decoding. */
export const ENTRY_LIMITS = {
  /** Tables one cached statement may read. */
  maxTables: 4096,
  /** One table name, `database.table` in UTF-8. */
  maxTableNameBytes: 4096,
} as const;

/** One cached result. */
export interface Entry {
  /** ENTRY_FORMAT_VERSION of the build that made it. */
  readonly version: number;
  /** Wall-clock ms (Date.now()) when the result was complete. */
  readonly createdAt: number;
  /** Lifetime in ms; expired when now >= createdAt + ttlMs. */
  readonly ttlMs: number;
  /** Tables the statement read, as the router names them (`database.table`); a write to any of them invalidates it. */
  readonly tables: readonly string[];
  /** Negotiated protocol revision the packets were produced at; the block format depends on it. */
  readonly revision: number;
  /**
   * The uncompressed server packets of a complete successful result at `revision`, back to back: header block, data
   * blocks, totals, extremes, profile info; no Progress, Log or ProfileEvents, and without the final EndOfStream
   * (replay appends it).
   */
  readonly packets: Buffer;
  /**
   * Where the packets are, as pairs [packetEnd, blockStart] in absolute offsets within `packets`, one pair per packet in
   * order: the packet runs from the previous pair's end (0 for the first) to packetEnd; blockStart is where its block
   * starts (after code and table name) for Data/Totals/Extremes, 0 for packets without a compressible block.
   * Ends strictly increase, the last one is packets.length, and a block starts inside its packet, after at least a
   * code byte and a table-name length, before its end.
   */
  readonly index: Uint32Array;
  /** Size of the encoded entry; what byte budgets charge for it. */
  readonly bytes: number;
}

/** Exact size of the encoded form of an entry with these tables, packet bytes and number of packets. */
export function encodedEntryBytes(tables: readonly string[], packetsLength: number, packetCount: number): number {
  let n = HEADER_BYTES + 4 + packetCount * ENTRY_INDEX_BYTES_PER_PACKET + 4;
  for (const t of tables) n += 4 + Buffer.byteLength(t, 'utf8');
  return n + packetsLength;
}

/** Builds an Entry of the current version with `bytes` filled in; CacheEntryError('malformed') for a bad index. */
export function makeEntry(e: {
  createdAt: number;
  ttlMs: number;
  tables: readonly string[];
  revision: number;
  packets: Buffer;
  index: Uint32Array;
}): Entry {
  checkIndex(e.index, e.packets.length);
  return {
    version: ENTRY_FORMAT_VERSION,
    createdAt: e.createdAt,
    ttlMs: e.ttlMs,
    tables: [...e.tables],
    revision: e.revision,
    packets: e.packets,
    index: e.index,
    bytes: encodedEntryBytes(e.tables, e.packets.length, e.index.length / 2),
  };
}

/** The entry's packets, as views into `packets` (no copies), with blockStart relative to each packet. */
export function entryPackets(e: Entry): RecordedPacket[] {
  const out: RecordedPacket[] = [];
  let start = 0;
  for (let i = 0; i < e.index.length; i += 2) {
    const end = e.index[i];
    const block = e.index[i + 1];
    out.push({ bytes: e.packets.subarray(start, end), blockStart: block === 0 ? 0 : block - start });
    start = end;
  }
  return out;
}

/** Throws CacheEntryError('malformed') unless `index` is a valid packet index of `packetsLength` bytes (see Entry.index). */
function checkIndex(index: Uint32Array, packetsLength: number): void {
  const bad = (msg: string): never => {
    throw new CacheEntryError('malformed', `packet index: ${msg}`);
  };
  if (!(index instanceof Uint32Array)) bad('not a Uint32Array');
  if (index.length % 2 !== 0) bad(`${index.length} numbers, not pairs`);
  let start = 0;
  for (let i = 0; i < index.length; i += 2) {
    const end = index[i];
    const block = index[i + 1];
    if (end <= start) bad(`packet ${i / 2} ends at ${end}, not after its start ${start}`);
    if (end > packetsLength) bad(`packet ${i / 2} ends at ${end}, past the ${packetsLength} packet bytes`);
    // A block packet has a code byte and a table-name length before its block, and a non-empty block.
    if (block !== 0 && (block < start + 2 || block >= end)) bad(`block of packet ${i / 2} at ${block}, outside ${start + 2}..${end - 1}`);
    start = end;
  }
  if (start !== packetsLength) bad(`packets end at ${start}, ${packetsLength} packet bytes`);
}

/** True once the entry's TTL has run out at `now` (ms). */
export function isExpired(e: Entry, now: number): boolean {
  return now >= e.createdAt + e.ttlMs;
}

function checkUInt(field: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new CacheEntryError('malformed', `${field} ${v} is not in 0..${max}`);
}

/** Encodes an entry (of the current version) into one new buffer. */
export function encodeEntry(e: Entry): Buffer {
  if (e.version !== ENTRY_FORMAT_VERSION) {
    throw new CacheEntryError('version', `cannot encode version ${e.version}, this build writes ${ENTRY_FORMAT_VERSION}`);
  }
  checkUInt('createdAt', e.createdAt, U48_MAX);
  checkUInt('ttlMs', e.ttlMs, U48_MAX);
  checkUInt('revision', e.revision, U32_MAX);
  if (e.tables.length > ENTRY_LIMITS.maxTables) {
    throw new CacheEntryError('limit', `${e.tables.length} tables > ${ENTRY_LIMITS.maxTables}`);
  }
  if (e.packets.length > U32_MAX) throw new CacheEntryError('limit', `packets of ${e.packets.length} bytes`);
  checkIndex(e.index, e.packets.length);
  const names = e.tables.map((t) => Buffer.from(t, 'utf8'));
  for (const n of names) {
    if (n.length > ENTRY_LIMITS.maxTableNameBytes) {
      throw new CacheEntryError('limit', `table name of ${n.length} bytes > ${ENTRY_LIMITS.maxTableNameBytes}`);
    }
  }
  const count = e.index.length / 2;
  const out = Buffer.allocUnsafe(encodedEntryBytes(e.tables, e.packets.length, count));
  let p = MAGIC.copy(out, 0);
  p = out.writeUInt16LE(ENTRY_FORMAT_VERSION, p);
  p = out.writeUIntLE(e.createdAt, p, 6);
  p = out.writeUIntLE(e.ttlMs, p, 6);
  p = out.writeUInt32LE(e.revision, p);
  p = out.writeUInt32LE(names.length, p);
  for (const n of names) {
    p = out.writeUInt32LE(n.length, p);
    p += n.copy(out, p);
  }
  p = out.writeUInt32LE(count, p);
  for (let i = 0; i < e.index.length; i++) p = out.writeUInt32LE(e.index[i], p);
  p = out.writeUInt32LE(e.packets.length, p);
  p += e.packets.copy(out, p);
  if (p !== out.length) throw new Error(`encodeEntry: wrote ${p} of ${out.length} bytes`); // a bug here, not bad input
  return out;
}

/**
 * Decodes an entry. `packets` is a view into `b` (no copy): the caller must not reuse `b`. Throws CacheEntryError on
 * another magic or version, truncation, trailing bytes, sizes over ENTRY_LIMITS or an invalid packet index; never
 * reads past `b`.
 */
export function decodeEntry(b: Buffer): Entry {
  const head = b.subarray(0, 4);
  if (!head.equals(MAGIC.subarray(0, head.length))) throw new CacheEntryError('bad_magic', 'not a Gatehouse cache entry');
  if (b.length < 6) throw new CacheEntryError('truncated', `${b.length} bytes, shorter than magic and version`);
  const version = b.readUInt16LE(4);
  if (version !== ENTRY_FORMAT_VERSION) {
    throw new CacheEntryError('version', `entry version ${version}, this build reads ${ENTRY_FORMAT_VERSION}`);
  }
  let p = 6;
  const need = (n: number, what: string): void => {
    if (b.length - p < n) throw new CacheEntryError('truncated', `${what}: need ${n} bytes at ${p}, have ${b.length - p}`);
  };
  need(HEADER_BYTES - 6, 'header');
  const createdAt = b.readUIntLE(p, 6);
  const ttlMs = b.readUIntLE(p + 6, 6);
  const revision = b.readUInt32LE(p + 12);
  const tableCount = b.readUInt32LE(p + 16);
  p += 20;
  if (tableCount > ENTRY_LIMITS.maxTables) throw new CacheEntryError('limit', `${tableCount} tables > ${ENTRY_LIMITS.maxTables}`);
  // Each table takes at least its 4-byte length: reject impossible counts before building the array.
  need(tableCount * 4, 'table list');
  const tables: string[] = [];
  for (let i = 0; i < tableCount; i++) {
    need(4, 'table name length');
    const len = b.readUInt32LE(p);
    p += 4;
    if (len > ENTRY_LIMITS.maxTableNameBytes) {
      throw new CacheEntryError('limit', `table name of ${len} bytes > ${ENTRY_LIMITS.maxTableNameBytes}`);
    }
    need(len, 'table name');
    tables.push(b.toString('utf8', p, p + len));
    p += len;
  }
  need(4, 'packet count');
  const count = b.readUInt32LE(p);
  p += 4;
  // Checked against the bytes present before the index is allocated.
  need(count * ENTRY_INDEX_BYTES_PER_PACKET, 'packet index');
  const index = new Uint32Array(count * 2);
  for (let i = 0; i < index.length; i++, p += 4) index[i] = b.readUInt32LE(p);
  need(4, 'packets length');
  const packetsLength = b.readUInt32LE(p);
  p += 4;
  need(packetsLength, 'packets');
  const packets = b.subarray(p, p + packetsLength);
  p += packetsLength;
  if (p !== b.length) throw new CacheEntryError('malformed', `${b.length - p} bytes after the packets`);
  checkIndex(index, packetsLength);
  return { version, createdAt, ttlMs, tables, revision, packets, index, bytes: b.length };
}
