import { HealthMonitor, PoolManager, type HealthOptions, type PoolOptions } from '../pool';
import { DEFAULT_LIMITS, type Limits } from '../protocol';
import type { CompiledRule } from '../router';
import type { ProxyUser } from './auth';
import type { SessionEvents } from './session-types';
import type { SessionCacheConfig } from './session-cache';
import { listen, type Listener } from './listener';
import { BackendRouter, backendTargets, type Backends } from './targets';
import { UserLimiters } from './user-limits';

export interface ProxyOptions {
  host: string;
  port: number;
  backends: Backends;
  users: ProxyUser[];
  poolMode: 'query' | 'session';
  pool: Omit<PoolOptions, 'maxSize'> & { maxSize: number | null };
  resultBuffering: 'stream' | 'buffer';
  bufferMaxBytes: number;
  maxPendingClientBytes: number;
  limits?: Limits;
  /** Verify compressed-frame checksums in the proxy (default false: the endpoints verify them). */
  verifyChecksums?: boolean;
  /** Active health checks and bans (null: none; passive failures are then not tracked either). */
  health?: HealthOptions | null;
  routing?: { retries: number; readsFallbackToWriter: boolean; readAfterWriteMs: number; rules: CompiledRule[] };
  events?: Partial<SessionEvents>;
  /** The result cache (null or absent: off). Closed with the proxy. */
  cache?: SessionCacheConfig | null;
  log?: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

export interface Proxy {
  host: string;
  port: number;
  pools: PoolManager;
  router: BackendRouter;
  health: HealthMonitor | null;
  limiters: UserLimiters;
  listener: Listener;
  close(): Promise<void>;
}

const noop = () => undefined;

/** Starts the native-protocol proxy: the listener, its sessions, health checks and the backend pools. */
export async function startProxy(opts: ProxyOptions): Promise<Proxy> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const verifyChecksums = opts.verifyChecksums ?? false;
  const routing = opts.routing ?? { retries: 1, readsFallbackToWriter: true, readAfterWriteMs: 0, rules: [] };
  const pools = new PoolManager({ ...opts.pool, limits, verifyChecksums });
  let health: HealthMonitor | null = null;
  if (opts.health) {
    const targets = backendTargets(opts.backends);
    const roles = new Map(targets.map((t) => [t.target, t.role]));
    // Checks log in as the backend identity of the role; in pass-through mode (no identities) as `default`.
    const probe = { user: 'default', password: '' };
    const { readIdentity, writeIdentity } = opts.backends;
    health = new HealthMonitor(targets, (t) => (roles.get(t) === 'reader' ? readIdentity : writeIdentity) ?? probe, opts.health);
  }
  const router = new BackendRouter(opts.backends, health, { readsFallbackToWriter: routing.readsFallbackToWriter });
  const limiters = new UserLimiters();
  const events: SessionEvents = {
    query: opts.events?.query ?? noop,
    queryDone: opts.events?.queryDone ?? noop,
    pinned: opts.events?.pinned ?? noop,
    clientClosed: opts.events?.clientClosed ?? noop,
    bytes: opts.events?.bytes ?? noop,
  };
  const listener = await listen(opts.host, opts.port, {
    config: {
      backends: opts.backends,
      users: opts.users,
      poolMode: opts.poolMode,
      resultBuffering: opts.resultBuffering,
      bufferMaxBytes: opts.bufferMaxBytes,
      maxPendingClientBytes: opts.maxPendingClientBytes,
      drainTimeoutMs: opts.pool.drainTimeoutMs,
      limits,
      verifyChecksums,
      routing: { retries: routing.retries, readAfterWriteMs: routing.readAfterWriteMs, rules: routing.rules },
    },
    pools,
    router,
    health,
    limiters,
    events,
    cache: opts.cache ?? null,
    log: opts.log ?? noop,
  });
  health?.start();
  return {
    host: opts.host,
    port: listener.port,
    pools,
    router,
    health,
    limiters,
    listener,
    async close() {
      await listener.close();
      await opts.cache?.cache.close();
      await health?.close();
      await pools.close();
    },
  };
}
