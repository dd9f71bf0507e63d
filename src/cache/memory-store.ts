/**
 * The default store: entries in process memory, least recently used evicted first to stay under a byte budget,
 * expired by TTL on read, removed by table on writes. All operations are O(1) apart from invalidateTable (O(entries
 * removed)): a JS Map keeps insertion order, so "move to most recent" is delete + set and the oldest is the first key.
 */
import { isExpired, type Entry } from './entry';

/** Least recently used entries each set() checks for expiry. */
const EXPIRY_SCAN = 4;

/** Options of a MemoryStore. */
export interface MemoryStoreOptions {
  /** Byte budget over all entries (sum of Entry.bytes). */
  maxBytes: number;
  /** Largest single entry accepted. */
  maxEntryBytes: number;
  /** Clock in ms; Date.now by default (tests pass a fake). */
  now?: () => number;
}

/** Counters of a store since it was created (entries and bytes are current). */
export interface StoreStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  /** Entries removed to stay under maxBytes. */
  evictions: number;
  /** Entries removed by invalidateTable. */
  invalidations: number;
}

/** In-memory LRU cache store with a byte budget, TTL and a table → keys index for invalidation. */
export class MemoryStore {
  private readonly maxBytes: number;
  private readonly maxEntryBytes: number;
  private readonly now: () => number;
  /** Insertion order = recency order: first is least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly byTable = new Map<string, Set<string>>();
  /** Invalidation sequence number of each table's last invalidation (see invalidationMark). */
  private readonly invalidatedAt = new Map<string, number>();
  private seq = 0;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private invalidations = 0;

  constructor(options: MemoryStoreOptions) {
    if (!(options.maxBytes > 0) || !(options.maxEntryBytes > 0)) {
      throw new RangeError('MemoryStore: maxBytes and maxEntryBytes must be positive');
    }
    this.maxBytes = options.maxBytes;
    this.maxEntryBytes = Math.min(options.maxEntryBytes, options.maxBytes);
    this.now = options.now ?? Date.now;
  }

  /** The entry under `key` (now the most recently used), or null when absent or expired (an expired one is removed). */
  get(key: string): Entry | null {
    const e = this.entries.get(key);
    if (e === undefined) {
      this.misses++;
      return null;
    }
    if (isExpired(e, this.now())) {
      this.remove(key, e);
      this.misses++;
      return null;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    this.hits++;
    return e;
  }

  /**
   * Stores `entry` under `key` (replacing any previous one) and evicts least recently used entries until the budget
   * holds. Returns false, changing nothing, when the entry is over maxEntryBytes, already expired, or (with `mark`
   * from invalidationMark()) one of its tables was invalidated after the mark: a result read before a write must not
   * be stored after the write's invalidation.
   */
  set(key: string, entry: Entry, mark?: number): boolean {
    if (entry.bytes > this.maxEntryBytes || isExpired(entry, this.now())) return false;
    if (mark !== undefined) {
      for (const t of entry.tables) if ((this.invalidatedAt.get(t) ?? -1) > mark) return false;
    }
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    this.dropExpiredOldest();
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    for (const t of entry.tables) {
      let keys = this.byTable.get(t);
      if (keys === undefined) this.byTable.set(t, (keys = new Set()));
      keys.add(key);
    }
    // The new entry is at most maxBytes, so this stops before reaching it.
    while (this.bytes > this.maxBytes) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      this.remove(oldestKey, oldest);
      this.evictions++;
    }
    return true;
  }

  /** Removes the entry under `key`; true when there was one. */
  delete(key: string): boolean {
    const e = this.entries.get(key);
    if (e === undefined) return false;
    this.remove(key, e);
    return true;
  }

  /** Removes every entry that read `table`; returns how many. */
  invalidateTable(table: string): number {
    this.invalidatedAt.set(table, ++this.seq);
    const keys = this.byTable.get(table);
    if (keys === undefined) return 0;
    let n = 0;
    for (const key of [...keys]) {
      const e = this.entries.get(key);
      if (e !== undefined) {
        this.remove(key, e);
        n++;
      }
    }
    this.byTable.delete(table);
    this.invalidations += n;
    return n;
  }

  /**
   * A mark to take when a cacheable read starts and pass to set() when it ends: set() then refuses the entry if a
   * table it read was invalidated in between. Grows one number per invalidated table name.
   */
  invalidationMark(): number {
    return this.seq;
  }

  /** Current counters. */
  stats(): StoreStats {
    return {
      entries: this.entries.size,
      bytes: this.bytes,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      invalidations: this.invalidations,
    };
  }

  /**
   * Expired entries are otherwise removed only when read or evicted: with a budget that is never reached, one-off
   * queries would pile up (a soak showed it). Each store looks at a few of the least recently used entries, which are
   * the likeliest to have expired, and drops the expired ones: bounded work per set(), and steady state stays flat.
   */
  private dropExpiredOldest(): void {
    const now = this.now();
    let looked = 0;
    for (const [key, e] of this.entries) {
      if (looked++ >= EXPIRY_SCAN) break;
      if (isExpired(e, now)) this.remove(key, e);
    }
  }

  private remove(key: string, e: Entry): void {
    this.entries.delete(key);
    this.bytes -= e.bytes;
    for (const t of e.tables) {
      const keys = this.byTable.get(t);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) this.byTable.delete(t);
    }
  }
}
