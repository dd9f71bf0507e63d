import { HealthMonitor, PoolManager, type BackendTlsOptions, type HealthOptions, type PoolOptions } from '../pool';
import { DEFAULT_LIMITS, type Limits } from '../protocol';
import type { CompiledRule } from '../router';
import type { ProxyUser } from './auth';
import type { ConnectionTimeouts, SessionDeps, SessionEvents } from './session-types';
import type { SessionCacheConfig } from './session-cache';
import { listen, type Listener, type TlsListenOptions } from './listener';
import { BackendRouter, type Backends } from './targets';
import { healthFor } from './reconfigure';
import { UserLimiters } from './user-limits';

export interface ProxyOptions {
  host: string;
  port: number;
  backends: Backends;
  users: ProxyUser[];
  poolMode: 'query' | 'session';
  pool: Omit<PoolOptions, 'maxSize' | 'tls'> & { maxSize: number | null };
  resultBuffering: 'stream' | 'buffer';
  bufferMaxBytes: number;
  maxPendingClientBytes: number;
  /** A client that does not read for this long is closed (streaming.max_paused_ms; default 300 s). */
  maxPausedMs?: number;
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
  /** A TLS listener next to the plain one (`tls:`); `only`: the plain listener is not opened (tls.require). */
  tls?: (TlsListenOptions & { only: boolean }) | null;
  /** TLS on every backend connection: pools, health checks, handshakes for ServerInfo (`backend_tls:`). */
  backendTls?: BackendTlsOptions | null;
  /** Open client connections over the plain and TLS listeners together (connections.max); absent or null: no cap. */
  maxClientConnections?: number | null;
  /** connections.handshake_timeout_ms, idle_timeout_ms and receive_timeout_ms (absent: the built-in defaults). */
  connectionTimeouts?: ConnectionTimeouts;
}

export interface Proxy {
  /** The address clients connect to: the plain listener's, or the TLS listener's when only TLS is served. */
  host: string;
  port: number;
  /** The TLS listener's port (null: no TLS listener). */
  tlsPort: number | null;
  /** TLS towards the backends, for whoever builds more backend connections later (a reload's health checks). */
  backendTls: BackendTlsOptions | null;
  pools: PoolManager;
  router: BackendRouter;
  health: HealthMonitor | null;
  limiters: UserLimiters;
  listener: Listener;
  /**
   * What every session reads its settings and collaborators from, at each query: replacing a field (config reload)
   * changes the next queries of every session, never one in flight.
   */
  deps: SessionDeps;
  close(): Promise<void>;
}

const noop = () => undefined;

/** Starts the native-protocol proxy: the listener, its sessions, health checks and the backend pools. */
export async function startProxy(opts: ProxyOptions): Promise<Proxy> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const verifyChecksums = opts.verifyChecksums ?? false;
  const routing = opts.routing ?? { retries: 1, readsFallbackToWriter: true, readAfterWriteMs: 0, rules: [] };
  const backendTls = opts.backendTls ?? null;
  const pools = new PoolManager({ ...opts.pool, limits, verifyChecksums, tls: backendTls });
  // The same construction a reload uses (reconfigure.ts), so both check backends alike.
  const health: HealthMonitor | null = opts.health ? healthFor(opts.backends, { ...opts.health, tls: backendTls }) : null;
  const router = new BackendRouter(opts.backends, health, { readsFallbackToWriter: routing.readsFallbackToWriter });
  const limiters = new UserLimiters();
  const events: SessionEvents = {
    query: opts.events?.query ?? noop,
    queryDone: opts.events?.queryDone ?? noop,
    pinned: opts.events?.pinned ?? noop,
    clientClosed: opts.events?.clientClosed ?? noop,
    bytes: opts.events?.bytes ?? noop,
  };
  const deps: SessionDeps = {
    config: {
      backends: opts.backends,
      users: opts.users,
      poolMode: opts.poolMode,
      resultBuffering: opts.resultBuffering,
      bufferMaxBytes: opts.bufferMaxBytes,
      maxPendingClientBytes: opts.maxPendingClientBytes,
      maxPausedMs: opts.maxPausedMs ?? 300_000,
      drainTimeoutMs: opts.pool.drainTimeoutMs,
      limits,
      verifyChecksums,
      routing: { retries: routing.retries, readAfterWriteMs: routing.readAfterWriteMs, rules: routing.rules },
      ...opts.connectionTimeouts,
    },
    pools,
    router,
    health,
    limiters,
    events,
    cache: opts.cache ?? null,
    log: opts.log ?? noop,
  };
  const tls = opts.tls ?? null;
  const listener = await listen(
    {
      plain: tls?.only ? null : { host: opts.host, port: opts.port },
      tls,
      maxConnections: opts.maxClientConnections ?? null,
    },
    deps,
  );
  health?.start();
  return {
    host: listener.host,
    port: listener.port,
    tlsPort: listener.tlsPort,
    backendTls,
    pools,
    router,
    health,
    limiters,
    listener,
    deps,
    async close() {
      await listener.close();
      await opts.cache?.cache.close();
      await health?.close();
      await pools.close();
    },
  };
}
