/**
 * Creates the ioredis clients of a RedisStore (standalone or Cluster) with the options that keep the cache from ever
 * blocking a query: no offline queue (a command while disconnected fails at once instead of waiting for a
 * reconnection), no retries of a command, a per-command timeout, and reconnection forever with capped backoff.
 * Errors thrown here never quote the URL: it may carry a password.
 */
import Redis, { Cluster, type ClusterNode, type RedisOptions } from 'ioredis';

/** What a client is built from (a subset of RedisStoreOptions). */
export interface RedisConnectOptions {
  /** `redis://[[user]:password@]host:port[/db]` or `rediss://…`; for a cluster, seed nodes (a list or comma-separated). */
  readonly url: string | readonly string[];
  readonly cluster: boolean;
  readonly commandTimeoutMs: number;
}

/** First reconnection delay; doubled on each failed attempt up to RECONNECT_MAX_MS. */
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2_000;

/** Delay before reconnection attempt `times` (1, 2, …): 50, 100, 200 … 2000, 2000 … ms; never gives up. */
export function reconnectDelayMs(times: number): number {
  return Math.min(RECONNECT_MIN_MS * 2 ** Math.min(Math.max(times - 1, 0), 16), RECONNECT_MAX_MS);
}

function urls(url: string | readonly string[]): string[] {
  const list = (typeof url === 'string' ? url.split(',') : [...url]).map((u) => u.trim()).filter((u) => u !== '');
  if (list.length === 0) throw new RangeError('RedisStore: no Redis URL given');
  return list;
}

/** Parses one URL; the message names the position in the list, never the text. */
function parseUrl(text: string, index: number): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new RangeError(`RedisStore: Redis URL #${index + 1} is not a valid URL`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new RangeError(`RedisStore: Redis URL #${index + 1} must start with redis:// or rediss://`);
  }
  return u;
}

/** Options shared by every connection (standalone client, cluster node connections, subscribers). */
function commonOptions(o: RedisConnectOptions): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs,
    // A connect attempt to a silent host ends after this, and the backoff goes on; commands fail fast meanwhile.
    connectTimeout: Math.max(1_000, 4 * o.commandTimeoutMs),
    lazyConnect: false,
    // disconnect() waits this long for the socket's 'close' before destroying it (ioredis default 2 s): with a dead
    // server that event may never come, and the wait would hold up the process' exit.
    disconnectTimeout: Math.max(100, o.commandTimeoutMs),
    retryStrategy: reconnectDelayMs,
    // A command that got no answer before a disconnection failed for its caller: it must not run later behind its back.
    autoResendUnfulfilledCommands: false,
    // ioredis' default would try to reconnect on READONLY (a replica after failover) by itself: we already do.
    reconnectOnError: null,
  };
}

/** A new client for the store's commands or for its subscriptions (same target, same options). */
export function createRedisClient(o: RedisConnectOptions): Redis | Cluster {
  const list = urls(o.url);
  if (!o.cluster) {
    if (list.length !== 1) throw new RangeError('RedisStore: one URL expected without cluster: true');
    parseUrl(list[0], 0);
    // ioredis parses the URL itself (password, db, rediss:// → TLS)
    return new Redis(list[0], commonOptions(o));
  }
  const parsed = list.map(parseUrl);
  const seeds: ClusterNode[] = parsed.map((u) => ({
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'), // IPv6 literal without brackets
    port: u.port === '' ? 6379 : Number(u.port),
  }));
  const first = parsed[0];
  const db = first.pathname.replace(/^\//, '');
  if (db !== '' && db !== '0') throw new RangeError('RedisStore: Redis Cluster has only database 0');
  const redisOptions: RedisOptions = {
    ...commonOptions(o),
    username: first.username === '' ? undefined : decodeURIComponent(first.username),
    password: first.password === '' ? undefined : decodeURIComponent(first.password),
    tls: first.protocol === 'rediss:' ? {} : undefined,
  };
  const cluster = new Cluster(seeds, {
    enableOfflineQueue: false,
    // ioredis' ready check sends CLUSTER INFO through a node connection that is still connecting, which the disabled
    // offline queue refuses ("Connection is closed."): the cluster would never become ready. The slot table loaded is
    // readiness enough; commands to a node still connecting fail fast as 'down'.
    enableReadyCheck: false,
    clusterRetryStrategy: reconnectDelayMs,
    // A node that restarts keeps its slots: reconnect to it instead of waiting for a MOVED that never comes.
    clusterNodeRetryStrategy: reconnectDelayMs,
    slotsRefreshTimeout: Math.max(1_000, 4 * o.commandTimeoutMs),
    redisOptions,
  });
  // Node connections open on their first command, and commands arriving while one opens fail: open them all now.
  cluster.on('ready', () => {
    for (const node of cluster.nodes('master')) node.ping().catch(() => undefined);
  });
  return cluster;
}
