/**
 * Names of the Redis keys and channels of the cache. Each name carries a hash tag (`{…}`): Redis Cluster hashes only
 * the tag, so an entry, its lock and its channel share one slot (and may be read in one pipeline), and a table's index
 * set and invalidation counter share another. No command or script of the store touches keys of two different tags.
 */

/** The key names of one store (one prefix). */
export interface RedisKeys {
  /** The encoded entry of a cache key. */
  entry(key: string): string;
  /** The single-flight lock of a cache key. */
  lock(key: string): string;
  /** Pub/sub channel told when the entry of a cache key is stored or its lock released. */
  channel(key: string): string;
  /** The stream a running result is fed through to other instances (redis-feed.ts). */
  feed(key: string): string;
  /** Set while some instance reads that stream (each read renews it): the producer's run has clients elsewhere. */
  readers(key: string): string;
  /** Set of the cache keys whose entries read `table`. */
  index(table: string): string;
  /** Invalidation counter of `table` (INCR on every invalidation). */
  counter(table: string): string;
}

/**
 * Escapes `{`, `}` and `%` so a name never ends its hash tag early: Redis takes the text between the FIRST `{` and the
 * first `}` after it, so a table called `a}b` would otherwise hash as `a`. Injective (`%` is escaped too).
 */
export function tagText(name: string): string {
  return name.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

/** Key names under `prefix` (e.g. 'gatehouse:'). */
export function redisKeys(prefix: string): RedisKeys {
  return {
    entry: (key) => `${prefix}e:{${tagText(key)}}`,
    lock: (key) => `${prefix}l:{${tagText(key)}}`,
    channel: (key) => `${prefix}c:{${tagText(key)}}`,
    feed: (key) => `${prefix}s:{${tagText(key)}}`,
    readers: (key) => `${prefix}r:{${tagText(key)}}`,
    index: (table) => `${prefix}t:{${tagText(table)}}`,
    counter: (table) => `${prefix}v:{${tagText(table)}}`,
  };
}
