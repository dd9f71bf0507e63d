/**
 * The result cache as `gatehouse serve` builds it from the `cache:` section: the store (memory, or Redis shared by
 * several instances), its metrics, and what each client session gets. Part of the composition root (serve.ts).
 */
import type { Logger } from 'pino';
import { MemoryCacheStore, RedisStore, compileCacheRules, type CacheStore } from './cache';
import { redisClusterSeeds, type GatehouseConfig } from './config';
import { ResultCache, type SessionCacheConfig } from './frontend';
import type { Metrics } from './metrics';
import type { Limits } from './protocol';

/** The Redis URL or seed URLs of the config (url_env and password_env read from the environment). */
function redisEndpoint(c: GatehouseConfig['cache']['redis'], env: NodeJS.ProcessEnv): string | string[] {
  if (c.cluster) return redisClusterSeeds(c, env);
  if (c.url_env !== undefined) {
    const url = env[c.url_env];
    if (url === undefined || url === '') throw new Error(`cache.redis.url_env: environment variable ${c.url_env} is not set`);
    return url;
  }
  return c.url ?? 'redis://127.0.0.1:6379';
}

/** Builds the cache, or returns null when `cache.enabled` is false. */
export function buildCache(cfg: GatehouseConfig, metrics: Metrics, log: Logger, limits: Limits): SessionCacheConfig | null {
  const c = cfg.cache;
  if (!c.enabled) return null;
  let store: CacheStore;
  if (c.store === 'redis') {
    let wasUp: boolean | null = null;
    store = new RedisStore({
      url: redisEndpoint(c.redis, process.env),
      cluster: c.redis.cluster,
      prefix: c.redis.prefix,
      commandTimeoutMs: c.redis.command_timeout_ms,
      feedReadMarkMs: c.redis.feed_read_mark_ms,
      maxEntryBytes: c.max_entry_bytes,
      onStateChange: (up) => {
        metrics.setCacheStoreUp(up);
        if (wasUp === up) return;
        wasUp = up;
        // The URL is never logged: it may hold a password.
        if (up) log.info({ store: 'redis' }, 'cache store up');
        else log.warn({ store: 'redis' }, 'cache store down: cacheable queries bypass the cache until it is back');
      },
    });
  } else {
    store = new MemoryCacheStore({ maxBytes: c.max_bytes, maxEntryBytes: c.max_entry_bytes });
    metrics.setCacheStoreUp(true);
  }
  metrics.addCacheSource(() => {
    const s = store.stats();
    return { entries: s.entries, bytes: s.bytes, evictions: s.evictions };
  });
  const cache = new ResultCache(
    store,
    {
      hit: () => metrics.cacheHitsTotal.inc(),
      miss: () => metrics.cacheMissesTotal.inc(),
      stored: () => metrics.cacheStoresTotal.inc(),
      bypass: (reason) => metrics.cacheBypassTotal.inc({ reason }),
      invalidated: (n) => metrics.cacheInvalidationsTotal.inc(n),
      singleflightWait: (scope) => metrics.cacheSingleflightWaitsTotal.inc({ scope }),
      staleServed: () => metrics.cacheStaleServedTotal.inc(),
      refresh: () => metrics.cacheRefreshesTotal.inc(),
      runKept: () => metrics.cacheRunsKeptTotal.inc(),
    },
    {
      maxEntryBytes: c.max_entry_bytes,
      lockTimeoutMs: c.lock_timeout_ms,
      limits,
      maxPausedMs: cfg.streaming.max_paused_ms,
      log: (level, msg, fields) => log[level](fields ?? {}, msg),
    },
  );
  return { cache, ...cacheSettings(cfg) };
}

/** The per-query settings of the `cache:` section (kept apart from the store, which a reload may keep). */
export function cacheSettings(cfg: GatehouseConfig): Omit<SessionCacheConfig, 'cache'> {
  const c = cfg.cache;
  return { ttlSeconds: c.ttl_seconds, softTtlSeconds: c.soft_ttl_seconds, rule: compileCacheRules(c.rules) };
}
