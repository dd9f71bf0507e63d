/**
 * What the result cache needs from a store, whether entries live in this process (MemoryStore) or in Redis shared by
 * several proxy instances (RedisStore). Every method may reject with StoreUnavailableError (Redis down, slow, full):
 * the caller then bypasses the cache for that query, so a store must never hang (each call has a deadline).
 */
import type { Entry } from './entry';
import type { StoreStats } from './memory-store';

/**
 * Taken when a cacheable read starts (before the backend reads anything), passed to set() when it ends: set() then
 * refuses the entry if one of its tables was invalidated in between, so a result read before a write is never stored
 * after that write's invalidation. Opaque to callers.
 */
export interface StoreMark {
  readonly store: 'memory' | 'redis';
}

/** A cross-instance single-flight lock on one key. */
export interface StoreLock {
  /** Frees the lock if this holder still has it (never frees a lock that expired and was taken by someone else). */
  release(): Promise<void>;
}

export interface CacheStore {
  readonly kind: 'memory' | 'redis';
  /** The live entry under `key`, or null (absent, expired, or undecodable: the latter is deleted). */
  get(key: string): Promise<Entry | null>;
  /** A mark for the tables a read is about to read (see StoreMark). */
  mark(tables: readonly string[]): Promise<StoreMark>;
  /**
   * Stores the entry with its TTL; false when refused (over the entry cap, expired, or a table invalidated since
   * `mark`). The entry's tables must be the ones given to mark().
   */
  set(key: string, entry: Entry, mark: StoreMark): Promise<boolean>;
  /** Removes every entry that read one of `tables` (names as the router gives them, `db.table`); returns how many. */
  invalidate(tables: readonly string[]): Promise<number>;
  /**
   * Takes the single-flight lock of `key` for at most `ttlMs` (it expires by itself if the holder dies); null when
   * another holder has it. The memory store always grants it (in-process single-flight already coalesced).
   */
  lock(key: string, ttlMs: number): Promise<StoreLock | null>;
  /**
   * Waits until the entry under `key` exists (returned), the lock of `key` is gone without an entry (null: run the
   * query yourself), or `timeoutMs` passed (null).
   */
  waitForEntry(key: string, timeoutMs: number): Promise<Entry | null>;
  /** Counters for metrics; entries/bytes are what this instance knows (-1 when the store cannot tell cheaply). */
  stats(): StoreStats;
  /** Closes connections; later calls reject. */
  close(): Promise<void>;
}

/** Why a store call failed; becomes the `reason` label of the bypass metric. */
export type StoreFailure = 'down' | 'timeout' | 'full' | 'error';
