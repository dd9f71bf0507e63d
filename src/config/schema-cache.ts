/**
 * The `cache:` section: the result cache's switch, store, TTLs, size caps, Redis connection and per-query rules.
 * Caching changes how fresh a result is, so it is off unless `enabled: true` (or --cache-ttl / --redis) asks for it.
 */
import { z } from 'zod';
import { redisUrlProblem } from './redis-url';
import { FEED_READER_MARK_MS, MIN_FEED_READ_MARK_MS } from '../cache/store';
import { ENV_NAME, MAX_TIMER_MS, bytes, hostPort, ms } from './schema-fields';
import { sqlPattern } from './schema-routing';

/** Stores the cache can use. */
export const CACHE_STORES = ['memory', 'redis'] as const;

// Fits Redis's EX argument and, in ms, the entry header's 48-bit TTL (src/cache/entry.ts).
const MAX_TTL_SECONDS = 2_147_483_647;
const ttlSeconds = z.number().int().min(1).max(MAX_TTL_SECONDS);

const redisUrl = z.string().superRefine((s, ctx) => {
  const problem = redisUrlProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

/** Where Redis is: one URL (standalone), or seed nodes (Redis Cluster). */
const redisSchema = z.strictObject({
  /** `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` or `rediss://…`; may hold a password (masked by redactConfig). */
  url: redisUrl.optional(),
  /** Name of an environment variable holding the URL (keeps the password out of the file). */
  url_env: z.string().regex(ENV_NAME, 'expected an environment variable name (letters, digits, _)').optional(),
  /** Redis Cluster: `nodes` are the seeds instead of a URL. */
  cluster: z.boolean().default(false),
  nodes: z.array(hostPort).default([]),
  /**
   * Credentials and TLS of the cluster's nodes (a standalone server carries them in its URL): an ACL user name, the
   * password (or the name of an environment variable holding it), and `tls: true` for nodes that speak TLS only.
   * The same for every node, as Redis Cluster expects (each node's requirepass / ACL).
   */
  username: z.string().min(1, 'must not be empty').optional(),
  password: z.string().min(1, 'must not be empty (leave it out for no password)').optional(),
  password_env: z.string().regex(ENV_NAME, 'expected an environment variable name (letters, digits, _)').optional(),
  tls: z.boolean().default(false),
  /**
   * Prepended to every key. No braces: keys carry their own `{…}` hash tag (so a temp key and its RENAME target share
   * a cluster slot), and a brace in the prefix would become the tag of every key, putting the whole cache on one node.
   */
  prefix: z.string().regex(/^[^{}]*$/, 'must not contain { or } (keys carry their own hash tag)').default('gatehouse:'),
  /** A Redis call not answered in this time fails and the query bypasses the cache. */
  command_timeout_ms: ms(1, 250),
  /**
   * Single-flight across instances: how long a read of another instance's running result marks it as read. That
   * instance runs the query on while a mark is fresh, after its own last client left; readers renew theirs every
   * half of this. Longer: a reader survives a longer Redis stall; shorter: a run whose readers vanished stops sooner.
   */
  feed_read_mark_ms: z.number().int().min(MIN_FEED_READ_MARK_MS).max(MAX_TIMER_MS).default(FEED_READER_MARK_MS),
});

/** One cache rule: every given condition must hold; the first rule that matches decides. */
export const cacheRuleSchema = z
  .strictObject({
    /** Proxy user name (the client's user in pass-through mode). */
    user: z.string().min(1, 'must not be empty').optional(),
    /** The session's database. */
    database: z.string().min(1, 'must not be empty').optional(),
    /** A JavaScript regular expression, searched for in the normalized SQL (literals replaced with ?). */
    pattern: sqlPattern.optional(),
    /** false: never cache what matches. */
    cache: z.boolean().default(true),
    /** Overrides cache.ttl_seconds for what matches. */
    ttl_seconds: ttlSeconds.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.user === undefined && r.database === undefined && r.pattern === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'set at least one of user, database, pattern' });
    }
    if (!r.cache && r.ttl_seconds !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['ttl_seconds'], message: 'not used when cache is false' });
    }
  });

const objectSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Absent: redis when a Redis endpoint (url, url_env or cluster nodes) is configured, else memory. */
  store: z.enum(CACHE_STORES).optional(),
  /** TTL of an entry no rule gives another one. */
  ttl_seconds: ttlSeconds.default(60),
  /** Stale-while-revalidate: an entry older than this is still served, and one refresh runs; null: off. */
  soft_ttl_seconds: ttlSeconds.nullable().default(null),
  /** A result larger than this is not cached (the recorder gives up past it). */
  max_entry_bytes: bytes(8 * 1024 * 1024),
  /** The memory store's budget; least recently used entries are evicted beyond it. */
  max_bytes: bytes(256 * 1024 * 1024),
  /** How long a query waits for another instance running the same one (Redis lock) before running it itself. */
  lock_timeout_ms: ms(1, 30_000),
  redis: redisSchema.default({}),
  /** First match wins; a query no rule matches is cached with ttl_seconds. */
  rules: z.array(cacheRuleSchema).default([]),
});

type Raw = z.infer<typeof objectSchema>;
type Redis = Raw['redis'];

/** Keys of the Redis section that only cluster mode reads. */
const CLUSTER_ONLY_KEYS = ['username', 'password', 'password_env', 'tls'] as const;

/** Whether the Redis section says where Redis is (a URL, a variable holding one, or cluster seeds). */
function hasRedisEndpoint(r: Redis): boolean {
  return r.url !== undefined || r.url_env !== undefined || (r.cluster && r.nodes.length > 0);
}

/** The store in use: as configured, else redis when Redis is configured, else memory. */
function storeOf(c: Raw): (typeof CACHE_STORES)[number] {
  return c.store ?? (hasRedisEndpoint(c.redis) ? 'redis' : 'memory');
}

function checkCache(c: Raw, ctx: z.RefinementCtx): void {
  const custom = (path: (string | number)[], message: string): void => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
  const r = c.redis;
  if (r.url !== undefined && r.url_env !== undefined) custom(['redis'], 'set only one of url, url_env');
  if (r.cluster) {
    if (r.url !== undefined || r.url_env !== undefined) {
      custom(['redis'], 'with cluster: true the seeds are nodes: remove url / url_env');
    }
    if (r.nodes.length === 0) custom(['redis', 'nodes'], 'must not be empty when cluster is true');
    if (r.password !== undefined && r.password_env !== undefined) custom(['redis'], 'set only one of password, password_env');
    if (r.username !== undefined && r.password === undefined && r.password_env === undefined) {
      custom(['redis', 'username'], 'needs password or password_env (Redis authenticates a user with its password)');
    }
  } else {
    if (r.nodes.length > 0) custom(['redis', 'nodes'], 'used only with cluster: true (a single server is given by url)');
    for (const key of CLUSTER_ONLY_KEYS) {
      if (key === 'tls' ? r.tls : r[key] !== undefined) {
        custom(['redis', key], 'used only with cluster: true (a single server takes it in its URL: redis[s]://[USER:]PASSWORD@HOST:PORT)');
      }
    }
  }
  if (storeOf(c) === 'redis' && !r.cluster && r.url === undefined && r.url_env === undefined) {
    custom(['redis', 'url'], 'required when cache.store is redis (or set url_env, or cluster: true with nodes)');
  }
  if (c.soft_ttl_seconds !== null && c.soft_ttl_seconds >= c.ttl_seconds) {
    custom(['soft_ttl_seconds'], `must be < cache.ttl_seconds (${c.ttl_seconds})`);
  }
  if (c.max_entry_bytes > c.max_bytes) custom(['max_entry_bytes'], `must be <= cache.max_bytes (${c.max_bytes})`);
}

/** The section with its store chosen. */
function resolveStore(c: Raw): Omit<Raw, 'store'> & { store: (typeof CACHE_STORES)[number] } {
  return { ...c, store: storeOf(c) };
}

/** The `cache:` section; `store` comes out resolved (memory or redis). */
export const cacheSchema = objectSchema.superRefine(checkCache).transform(resolveStore);

/** The validated `cache:` section. */
export type CacheConfig = z.infer<typeof cacheSchema>;
/** One cache rule as configured. */
export type CacheRuleConfig = CacheConfig['rules'][number];
/** A cache store kind. */
export type CacheStoreKind = CacheConfig['store'];
