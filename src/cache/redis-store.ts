/**
 * The shared store: entries in Redis (standalone or Cluster), so every proxy instance serves what any of them stored,
 * a write seen by any instance invalidates the entries of all, and identical misses across instances run once (lock +
 * waitForEntry). Same semantics as MemoryStore, except that entries/bytes are unknown (-1) and Redis does the evicting.
 *
 * Every call has a deadline (commandTimeoutMs) and fails with StoreUnavailableError instead of hanging or queueing:
 * a dead, slow or full Redis only makes queries bypass the cache. Work that the deadline cut short still finishes (or
 * fails) in the background, and set() then removes an entry it could not verify (see set()).
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { decodeEntry, encodeEntry, isExpired, type Entry } from './entry';
import { CacheEntryError, StoreUnavailableError } from './errors';
import type { StoreStats } from './memory-store';
import { createRedisClient } from './redis-connect';
import { toStoreError } from './redis-errors';
import { redisKeys, type RedisKeys } from './redis-keys';
import { ChannelListeners } from './redis-notify';
import { RedisFeed } from './redis-feed';
import { isRedisMark, type RedisStoreMark } from './redis-mark';
import { waitUntil } from './redis-wait';
import { installScripts, type StoreScripts } from './redis-scripts';
import { FEED_READER_MARK_MS, MIN_FEED_READ_MARK_MS, type CacheStore, type StoreLock, type StoreMark } from './store';

/** Options of a RedisStore. */
export interface RedisStoreOptions {
  /**
   * `redis://[[user]:password@]host:port[/db]` (or `rediss://` for TLS). With `cluster`, the seed nodes: a list, or
   * one string of comma-separated URLs (credentials and TLS are taken from the first).
   */
  url: string | readonly string[];
  /** Use Redis Cluster, with `url` as seed nodes. */
  cluster?: boolean;
  /** Prefix of every key and channel; default 'gatehouse:'. Must not contain `{` or `}` (hash tags). */
  prefix?: string;
  /** Deadline of every call and every Redis command; default 250. */
  commandTimeoutMs?: number;
  /** Largest entry set() accepts (Entry.bytes). */
  maxEntryBytes: number;
  /** Clock for entry expiry (ms); Date.now by default. Deadlines and polling use real timers. */
  now?: () => number;
  /**
   * Called when the connection to Redis comes up or goes down (not when close() is called), e.g. for a gauge and a
   * "cache store down/up" log line. Redis Cluster: up when the cluster client is ready, down when it lost every node.
   */
  onStateChange?: (up: boolean) => void;
  /**
   * How long a read of another instance's feed marks it as read (default FEED_READER_MARK_MS): the producer runs on
   * for a reader whose mark is fresh when its own last client leaves. Must exceed the 250 ms between a waiting
   * reader's reads.
   */
  feedReadMarkMs?: number;
}

const DEFAULT_PREFIX = 'gatehouse:';
const DEFAULT_COMMAND_TIMEOUT_MS = 250;
/** Life of an invalidation counter, renewed by each invalidation: far longer than any read lasts. */
const COUNTER_TTL_MS = 7 * 24 * 3600 * 1000;
/** How often stats() may ask Redis for its eviction count. */
const EVICTIONS_REFRESH_MS = 5_000;
/** Largest SREM issued at once when an invalidation empties an index set. */
const SREM_CHUNK = 1_000;

const noop = (): void => undefined;

/** Redis-backed CacheStore (kind 'redis'); see the file comment. */
export class RedisStore implements CacheStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis | Cluster;
  private readonly scripts: StoreScripts;
  /** A connection in subscriber mode can run nothing else: waitForEntry's channels get their own. */
  private readonly subscriber: Redis | Cluster;
  private readonly channels: ChannelListeners;
  private readonly keys: RedisKeys;
  private readonly isCluster: boolean;
  private readonly commandTimeoutMs: number;
  private readonly maxEntryBytes: number;
  private readonly now: () => number;
  private readonly onStateChange: ((up: boolean) => void) | undefined;
  private connected = false;
  private closing: Promise<void> | null = null;
  /** One callback per pending waitForEntry, rejecting it when the store closes. */
  private readonly waiters = new Set<() => void>();
  private hits = 0;
  private misses = 0;
  private invalidations = 0;
  private evictions = 0;
  private evictionsAskedAt = -Infinity;

  constructor(options: RedisStoreOptions) {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (/[{}]/.test(prefix)) throw new RangeError('RedisStore: prefix must not contain { or } (Redis Cluster hash tags)');
    if (!(options.maxEntryBytes > 0)) throw new RangeError('RedisStore: maxEntryBytes must be positive');
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (!(this.commandTimeoutMs > 0)) throw new RangeError('RedisStore: commandTimeoutMs must be positive');
    const markMs = options.feedReadMarkMs ?? FEED_READER_MARK_MS;
    if (!(markMs >= MIN_FEED_READ_MARK_MS)) throw new RangeError(`RedisStore: feedReadMarkMs must be >= ${MIN_FEED_READ_MARK_MS}`);
    this.keys = redisKeys(prefix);
    this.isCluster = options.cluster ?? false;
    this.maxEntryBytes = options.maxEntryBytes;
    this.now = options.now ?? Date.now;
    this.onStateChange = options.onStateChange;
    const connect = { url: options.url, cluster: this.isCluster, commandTimeoutMs: this.commandTimeoutMs };
    this.client = createRedisClient(connect);
    this.subscriber = createRedisClient(connect);
    // Without an 'error' listener an EventEmitter throws, and ioredis emits one per failed connection attempt.
    // Nothing to do with them here: calls fail with their own errors, and state changes are reported below.
    this.client.on('error', noop);
    this.subscriber.on('error', noop);
    this.client.on('ready', () => this.setConnected(true));
    this.client.on('close', () => this.setConnected(false));
    this.client.on('end', () => this.setConnected(false));
    this.scripts = installScripts(this.client);
    this.channels = new ChannelListeners(this.subscriber);
    this.feed = new RedisFeed(this.client, this.keys, this.channels, (op, work) => this.call(op, work), markMs);
  }

  /** Streams running results to the other instances (cross-instance single-flight). */
  readonly feed: RedisFeed;

  /** True while the command connection is ready. */
  get up(): boolean {
    return this.connected;
  }

  /** The live entry under `key`, or null (absent, expired, or undecodable: the latter is deleted). */
  get(key: string): Promise<Entry | null> {
    return this.call('get', async () => {
      const raw = await this.client.getBuffer(this.keys.entry(key));
      const e = raw === null ? null : await this.decodeOrDrop(key, raw);
      if (e === null || isExpired(e, this.now())) {
        this.misses++;
        return null;
      }
      this.hits++;
      return e;
    });
  }

  /** Reads the invalidation counter of each table (see set()). */
  mark(tables: readonly string[]): Promise<RedisStoreMark> {
    return this.call('mark', async () => {
      const unique = [...new Set(tables)];
      const values = await this.readCounters(unique);
      return { store: 'redis', counters: new Map(unique.map((t, i) => [t, values[i]])) };
    });
  }

  /**
   * Stores the entry for its remaining TTL unless it is over maxEntryBytes, expired, or one of its tables was
   * invalidated since `mark` (false, nothing stored). A table of the entry missing from the mark also gives false:
   * nothing proves it was not invalidated.
   *
   * Why no stale entry survives an invalidation racing with this (see invalidateTable): here it is SET entry, SADD to
   * each table's index, then re-read each counter; there it is bump counter, then SMEMBERS index, then DEL. For one
   * table, either our re-read comes after its bump, so we see the counter moved and delete the entry ourselves, or it
   * comes before, so its bump and therefore its SMEMBERS come after our SADD, and it finds and deletes the entry.
   * Every step waits for the previous one's reply, and each key lives on one node, so "after" holds in Cluster too.
   * If a step fails after the SET (Redis down or slow), the entry is deleted as well (best effort): an entry that was
   * not verified must not stay for its whole TTL.
   */
  set(key: string, entry: Entry, mark: StoreMark): Promise<boolean> {
    if (!isRedisMark(mark)) return Promise.reject(new TypeError('RedisStore.set: the mark was not made by a RedisStore'));
    return this.call('set', async () => {
      if (entry.bytes > this.maxEntryBytes) return false;
      const ttlMs = entry.createdAt + entry.ttlMs - this.now();
      if (ttlMs <= 0) return false;
      const tables = [...new Set(entry.tables)];
      if (!tables.every((t) => mark.counters.has(t))) return false;
      const entryKey = this.keys.entry(key);
      const encoded = encodeEntry(entry);
      try {
        // Inside the try: a SET that timed out here may still run on the server later; the DEL below follows it on the
        // same connection, so it runs after it.
        await this.client.set(entryKey, encoded, 'PX', ttlMs);
        // The index outlives the entry: its TTL starts a little later and is never shortened.
        await Promise.all(tables.map((t) => this.scripts.ghIndexAdd(this.keys.index(t), key, ttlMs)));
        const counters = await this.readCounters(tables);
        if (tables.some((t, i) => counters[i] !== mark.counters.get(t))) {
          await this.client.del(entryKey);
          return false;
        }
      } catch (err) {
        this.client.del(entryKey).catch(noop);
        throw err;
      }
      // Wakes waitForEntry callers at once (they poll anyway, so a lost message only delays them).
      this.client.publish(this.keys.channel(key), 'stored').catch(noop);
      return true;
    });
  }

  /** Whether a table of `mark` was invalidated since (by any instance): its invalidation counter moved. */
  changedSince(mark: StoreMark): Promise<boolean> {
    if (!isRedisMark(mark)) return Promise.reject(new TypeError('RedisStore.changedSince: the mark was not made by a RedisStore'));
    return this.call('changed', async () => {
      const tables = [...mark.counters.keys()];
      const now = await this.readCounters(tables);
      return tables.some((t, i) => now[i] !== mark.counters.get(t));
    });
  }

  /** Removes every entry that read one of `tables` (here and for every other instance); returns how many. */
  invalidate(tables: readonly string[]): Promise<number> {
    return this.call('invalidate', async () => {
      const counts = await Promise.all([...new Set(tables)].map((t) => this.invalidateTable(t)));
      const n = counts.reduce((a, b) => a + b, 0);
      this.invalidations += n;
      return n;
    });
  }

  /**
   * Takes the lock of `key` for `ttlMs` with a random token (SET NX PX); null when another holder has it. release()
   * frees it only if it still holds this token, and wakes waitForEntry callers.
   */
  lock(key: string, ttlMs: number): Promise<StoreLock | null> {
    return this.call('lock', async () => {
      const lockKey = this.keys.lock(key);
      const token = randomBytes(16).toString('hex');
      let ok: string | null;
      try {
        ok = await this.client.set(lockKey, token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
      } catch (err) {
        // It may still run on the server (a timeout): free it then, or waiters would wait for a holder that is not.
        this.scripts.ghLockRelease(lockKey, token, this.keys.channel(key)).catch(noop);
        throw err;
      }
      if (ok !== 'OK') return null;
      let released = false;
      return {
        token,
        release: async (): Promise<void> => {
          if (released) return;
          await this.call('release', () => this.scripts.ghLockRelease(lockKey, token, this.keys.channel(key)));
          released = true;
        },
      };
      // Granted after the caller was told 'timeout': nobody holds it, so it is freed at once.
    }, (late) => void late?.release().catch(noop));
  }

  /**
   * Resolves with the entry under `key` once it exists, null once the lock of `key` is gone without an entry, null
   * after `timeoutMs`; rejects when Redis fails meanwhile or the store closes. Looks when told on the key's channel
   * (set() and release() publish) and polls besides; leaves no subscription or timer behind.
   */
  waitForEntry(key: string, timeoutMs: number): Promise<Entry | null> {
    if (this.closing !== null) return Promise.reject(closedError('waitForEntry'));
    return waitUntil<Entry | null>({
      channels: this.channels,
      channel: this.keys.channel(key),
      look: async () => {
        const r = await this.call('waitForEntry', () => this.probe(key));
        if (r.entry !== null) return { done: true, value: r.entry };
        return r.locked ? { done: false } : { done: true, value: null };
      },
      timeoutMs,
      fallback: null,
      onAbort: (abort) => {
        const onClose = (): void => abort(closedError('waitForEntry'));
        this.waiters.add(onClose);
        return () => this.waiters.delete(onClose);
      },
    });
  }

  /**
   * Hits and misses of get() and entries removed by invalidate() on this instance; evictions are Redis' own
   * `evicted_keys` (all keys of the server, summed over masters in Cluster), refreshed in the background at most every
   * few seconds, so this never waits for Redis.
   */
  stats(): StoreStats {
    this.refreshEvictions();
    return {
      entries: -1,
      bytes: -1,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      invalidations: this.invalidations,
    };
  }

  /** Closes both connections and settles pending waits (rejected); idempotent. Later calls reject ('down'). */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const settle of [...this.waiters]) settle();
    await Promise.all([this.quit(this.client), this.quit(this.subscriber)]);
  }

  /** QUIT lets replies in flight arrive; when Redis is down or silent, disconnect() (which also stops reconnecting). */
  private async quit(c: Redis | Cluster): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([c.quit(), new Promise((resolve) => (timer = setTimeout(resolve, this.commandTimeoutMs)))]);
    } catch {
      // down: nothing to say goodbye to
    } finally {
      clearTimeout(timer);
      c.disconnect();
    }
  }

  /**
   * Runs one store call under the deadline, mapping every failure to StoreUnavailableError. `onLate` gets a result
   * that arrived after the caller was told 'timeout' (something to undo, like a lock nobody will release).
   */
  private call<T>(op: string, work: () => Promise<T>, onLate?: (value: T) => void): Promise<T> {
    if (this.closing !== null) return Promise.reject(closedError(op));
    const running = work();
    const ms = this.commandTimeoutMs;
    let timedOut = false;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new StoreUnavailableError('timeout', `${op}: no answer from Redis within ${ms} ms`));
      }, ms);
      // Both outcomes are handled here, so work that finishes after the deadline never becomes an unhandled rejection.
      running.then(
        (v) => {
          clearTimeout(timer);
          if (timedOut) onLate?.(v);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(toStoreError(err, op));
        },
      );
    });
  }

  private setConnected(up: boolean): void {
    if (this.closing !== null || up === this.connected) return;
    this.connected = up;
    try {
      this.onStateChange?.(up);
    } catch {
      // a throwing listener must not break ioredis' event dispatch
    }
  }

  /** GET of each table's counter; '0' for none. Separate commands: in Cluster the counters live in different slots. */
  private readCounters(tables: readonly string[]): Promise<string[]> {
    return Promise.all(tables.map(async (t) => (await this.client.get(this.keys.counter(t))) ?? '0'));
  }

  /**
   * One table: bump its counter, then take and delete the entries its index lists (see the race argument at set()).
   * SREM of the members read, not DEL of the set: a setter whose mark already saw this bump may add itself between
   * SMEMBERS and here, and must stay listed for the next invalidation. SREM before DEL: a setter that re-adds an
   * already listed key after the SREM stays listed; one that did before has its entry deleted by the DEL.
   * If the bump fails, the listed entries are still deleted before the failure is reported.
   */
  private async invalidateTable(table: string): Promise<number> {
    let bumpError: unknown = null;
    try {
      await this.scripts.ghCounterBump(this.keys.counter(table), COUNTER_TTL_MS, randomBytes(12).toString('hex'));
    } catch (err) {
      bumpError = err;
    }
    const indexKey = this.keys.index(table);
    const members = await this.client.smembers(indexKey);
    for (let i = 0; i < members.length; i += SREM_CHUNK) {
      await this.client.srem(indexKey, ...members.slice(i, i + SREM_CHUNK));
    }
    // One DEL per key: in Cluster the entries live in different slots.
    const deleted = await Promise.all(members.map((k) => this.client.del(this.keys.entry(k))));
    if (bumpError !== null) throw bumpError;
    return deleted.reduce((a, b) => a + b, 0);
  }

  /** What waitForEntry looks at: the lock, then the entry (same hash tag, so one node, one pipeline, in order). */
  private async probe(key: string): Promise<{ locked: boolean; entry: Entry | null }> {
    // Lock first: a holder stores the entry before releasing, so "lock gone, then no entry" means it stored none.
    const replies = await this.client.pipeline().exists(this.keys.lock(key)).getBuffer(this.keys.entry(key)).exec();
    if (replies === null) throw new StoreUnavailableError('down', 'waitForEntry: pipeline aborted');
    for (const [err] of replies) if (err) throw err;
    const locked = replies[0][1] === 1;
    const raw = replies[1][1] as Buffer | null;
    const e = raw === null ? null : await this.decodeOrDrop(key, raw);
    return { locked, entry: e !== null && !isExpired(e, this.now()) ? e : null };
  }

  /** Decodes an entry; one this build cannot read (corrupt, other format) is deleted and reads as absent. */
  private async decodeOrDrop(key: string, raw: Buffer): Promise<Entry | null> {
    try {
      return decodeEntry(raw);
    } catch (err) {
      if (!(err instanceof CacheEntryError)) throw err;
      await this.client.del(this.keys.entry(key)).catch(noop); // a miss either way; a later set() replaces it anyway
      return null;
    }
  }

  /** Starts a background read of INFO stats unless one ran recently; never awaited. */
  private refreshEvictions(): void {
    const t = Date.now();
    if (this.closing !== null || t - this.evictionsAskedAt < EVICTIONS_REFRESH_MS) return;
    this.evictionsAskedAt = t;
    const nodes: (Redis | Cluster)[] = this.isCluster ? (this.client as Cluster).nodes('master') : [this.client];
    Promise.all(nodes.map((n) => n.info('stats'))).then((infos) => {
      let sum = 0;
      for (const info of infos) sum += Number(/^evicted_keys:(\d+)/m.exec(info)?.[1] ?? 0);
      this.evictions = sum;
    }, noop);
  }
}

function closedError(op: string): StoreUnavailableError {
  return new StoreUnavailableError('down', `${op}: store closed`);
}
