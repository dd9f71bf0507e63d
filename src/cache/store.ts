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
  /** The holder's random token: its feed starts with it, so readers know whose result a feed carries. */
  readonly token: string;
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
   * Whether a table of `mark` was invalidated since it was taken, by this instance or another. Stores that serve one
   * process leave it out: their invalidations close the running executions directly (ResultCache.invalidate).
   */
  changedSince?(mark: StoreMark): Promise<boolean>;
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
  /** Streaming of running results to other instances; absent for stores that serve one process only. */
  readonly feed?: StoreFeed;
}

/** Why a store call failed; becomes the `reason` label of the bypass metric. */
export type StoreFailure = 'down' | 'timeout' | 'full' | 'error';

/**
 * One item of a flight's feed: how a result running on one instance streams to clients of the same query on other
 * instances (cross-instance single-flight). Packets travel in their recorded (uncompressed) form.
 */
export type FeedItem =
  /**
   * The first item: the lock token of the instance producing this feed, and its invalidation mark (StoreFeed.markText)
   * so that a reader can tell whether the execution predates a write it has seen (StoreFeed.predates).
   */
  | { readonly kind: 'start'; readonly token: string; readonly mark?: string }
  | { readonly kind: 'packet'; readonly bytes: Buffer; readonly blockStart: number }
  /** The last item. `ok`: EndOfStream; `error`: the server's Exception packet (bytes); `abandoned`: the producer stopped. */
  | { readonly kind: 'end'; readonly status: 'ok' | 'error' | 'abandoned'; readonly bytes?: Buffer };

/** What one read of a feed returns. */
export interface FeedRead {
  /** Position of the last item returned (`after` when none): the next read's `after`. */
  last: string;
  items: FeedItem[];
  /** Token of the current lock holder of the key, null when nobody holds it. */
  producer: string | null;
}

/** Cross-instance streaming of a running result (Redis stores only). */
export interface StoreFeed {
  /**
   * Appends items to the feed of `key` and tells readers; the feed lives `ttlMs` from now. `fresh`: the feed is
   * replaced (an older feed of the same key, from an earlier execution, is dropped first).
   */
  publish(key: string, items: readonly FeedItem[], ttlMs: number, fresh: boolean): Promise<void>;
  /**
   * Up to `count` items after position `after` ('0': from the start), waiting up to `waitMs` for new ones when there
   * are none yet (`items` empty when nothing came in time), with the token of the lock holder of `key` (null: none).
   * null when there is neither a feed nor a lock holder (nobody is producing it).
   */
  read(key: string, after: string, count: number, waitMs: number): Promise<FeedRead | null>;
  /**
   * How long a read (or markRead) marks a feed as read, in ms ({@link FEED_READER_MARK_MS} unless configured): readers
   * renew their mark every half of it while their clients are slow.
   */
  readonly readMarkMs: number;
  /**
   * Whether some instance read the feed of `key` within the last {@link readMarkMs} of that reader (each read leaves
   * that mark): the producer's run still has clients elsewhere when its own last client leaves.
   */
  readers(key: string): Promise<boolean>;
  /** Leaves the mark of a read without reading: a reader whose clients are slow to take what it read is still one. */
  markRead(key: string): Promise<void>;
  /** An invalidation mark of this store as text, for a feed's start item. */
  markText(mark: StoreMark): string;
  /**
   * Whether the execution whose feed started with `producerMark` may predate an invalidation that `mine` (a reader's
   * mark, taken later) includes: a table's counter differs, or is missing from it. A feed without a mark (an older
   * producer) is trusted.
   */
  predates(producerMark: string | undefined, mine: StoreMark): boolean;
}

/**
 * How long a read of a feed marks it as read, by default (`cache.redis.feed_read_mark_ms`). Readers read at least
 * every 250 ms while they wait for items, and renew the mark every half of this while their own clients are slow to
 * take what they read (cache-feed.ts).
 */
export const FEED_READER_MARK_MS = 5_000;
/** The shortest read mark: well above the 250 ms between a waiting reader's reads, and a few command timeouts. */
export const MIN_FEED_READ_MARK_MS = 1_000;
