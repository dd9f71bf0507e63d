/**
 * The composition root of `gatehouse serve`: config → pools, listener, metrics and admin server; reload and graceful
 * shutdown of what it built. bin/cli.ts and src/serve-main.ts only parse flags, load the config and handle signals.
 */
import pino, { type Logger } from 'pino';
import { limitsFromConfig, parseHostPort, type GatehouseConfig } from './config';
import { LoginGuard, reconfigure, startProxy, type Proxy } from './frontend';
import { backendReadiness, Metrics, startAdminServer, type AdminServer, type Readiness } from './metrics';
import type { HealthMonitor } from './pool';
import { withLimits } from './protocol';
import { buildCache, cacheSettings } from './serve-cache';
import { backendsOf, connectionTimeoutsOf, healthOf, keysNeedingRestart, proxyUsers, routingOf } from './serve-config';
import { tlsProxyOptions } from './serve-tls';
import { reloadHttpFrontend, startHttpFrontend, type HttpFrontend } from './serve-http';

/** Outcome of a reload: applied (with the keys that need a restart), or refused with the config's errors. */
export type ReloadResult = { ok: true; notApplied: string[] } | { ok: false; errors: string[] };

export interface ServeOptions {
  /** Loads and applies the config file again (POST /reload on the admin port); absent: no reload route. */
  reloader?: () => Promise<ReloadResult>;
  /** A worker of several: no admin server (the primary serves it) and no ready line (the primary prints it). */
  worker?: boolean;
}

export interface Running {
  proxy: Proxy;
  /** The HTTP frontend, when `http` is configured. */
  http: HttpFrontend | null;
  admin: AdminServer | null;
  log: Logger;
  metrics: Metrics;
  /** What /ready and /status answer (a worker reports them to its primary). */
  ready(): Readiness | boolean;
  status(): Record<string, unknown>;
  /** Applies a new validated config to the running proxy; returns the changed keys that need a restart. */
  reload(next: GatehouseConfig): Promise<string[]>;
  /**
   * Graceful stop: no new connections; idle clients are closed, busy ones when their query ends; after `timeoutMs`
   * the rest are cancelled on the backends; then pools, cache and admin server close.
   */
  shutdown(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Discard reasons as a small label set (free text would make unbounded label values). */
function discardReason(reason: string): string {
  const known: [string, string][] = [
    ['not reusable', 'not_reusable'], ['broken', 'broken'], ['mid-query', 'mid_query'], ['closed', 'closed'],
    ['shrunk', 'shrunk'], ['ping', 'ping_failed'], ['idle timeout', 'idle_timeout'],
  ];
  return known.find(([k]) => reason.includes(k))?.[1] ?? 'other';
}


/** The TLS part of the ready line. */
function tlsText(proxy: Proxy): string {
  const l = proxy.listener;
  if (l.plainPort === null) return ' (TLS only)';
  return l.tlsPort !== null ? `, TLS on ${l.tlsHost}:${l.tlsPort}` : '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function serve(cfg: GatehouseConfig, log: Logger = pino({ level: cfg.log_level }), opts: ServeOptions = {}): Promise<Running> {
  const metrics = new Metrics();
  metrics.allowUsers(cfg.users.map((u) => u.name));
  const listen = parseHostPort(cfg.listen, true);
  const limits = withLimits(limitsFromConfig(cfg.limits ?? {}));
  let current = cfg;
  let stopping = false;
  const cache = buildCache(cfg, metrics, log, limits);
  const proxy = await startProxy({
    host: listen.host,
    port: listen.port,
    backends: backendsOf(cfg),
    users: proxyUsers(cfg),
    poolMode: cfg.pool.mode,
    pool: {
      minIdle: cfg.pool.min_idle,
      maxSize: cfg.pool.max_size,
      waitTimeoutMs: cfg.pool.wait_timeout_ms,
      connectTimeoutMs: cfg.pool.connect_timeout_ms,
      idleCheckMs: cfg.pool.idle_check_ms,
      idleTimeoutMs: cfg.pool.idle_timeout_ms,
      drainTimeoutMs: cfg.pool.drain_timeout_ms,
      receiveTimeoutMs: cfg.pool.receive_timeout_ms,
    },
    resultBuffering: cfg.streaming.result_buffering,
    bufferMaxBytes: cfg.streaming.buffer_max_bytes,
    maxPendingClientBytes: cfg.streaming.max_pending_client_bytes,
    maxPausedMs: cfg.streaming.max_paused_ms,
    verifyChecksums: cfg.streaming.verify_checksums,
    connectionTimeouts: connectionTimeoutsOf(cfg),
    limits,
    cache,
    ...tlsProxyOptions(cfg),
    health: healthOf(cfg),
    routing: routingOf(cfg),
    events: {
      query: () => undefined,
      queryDone: (route, seconds, error, info) => {
        metrics.recordQuery({ route, kind: info.kind, user: info.user, seconds, error });
        // The debug line's fields are built only when it is written: this runs for every query.
        if (error) {
          log.warn({ route, kind: info.kind, user: info.user, query_id: info.queryId, seconds, origin: error.origin, code: error.code }, 'query failed');
        } else if (log.isLevelEnabled('debug')) log.debug({ route, kind: info.kind, user: info.user, query_id: info.queryId, seconds }, 'query');
      },
      pinned: (delta) => metrics.pinnedSessions.inc(delta),
      clientClosed: () => metrics.clientConnections.dec(),
      bytes: (toClient, toBackend) => {
        metrics.countBytes('to_client', toClient);
        metrics.countBytes('to_backend', toBackend);
      },
    },
    log: (level, msg, fields) => log[level](fields ?? {}, msg),
  });
  // One warning per outage; renewals of a ban while the backend stays down are debug lines.
  const banned = new Set<string>();
  const watchHealth = (health: HealthMonitor | null): void => {
    for (const t of proxy.router.allTargets()) metrics.backendBanned.set({ backend: t.target.name }, 0);
    health?.on('ban', (s) => {
      const fields = { backend: s.name, address: s.address, reason: s.banReason, until: s.bannedUntil };
      if (banned.has(s.name)) log.debug(fields, 'backend ban renewed');
      else {
        log.warn(fields, 'backend banned');
        metrics.backendBansTotal.inc({ backend: s.name });
      }
      banned.add(s.name);
      metrics.backendBanned.set({ backend: s.name }, 1);
    });
    health?.on('unban', (s, cause) => {
      banned.delete(s.name);
      metrics.backendBanned.set({ backend: s.name }, 0);
      log.info({ backend: s.name, address: s.address, cause }, 'backend back in rotation');
    });
  };
  watchHealth(proxy.health);
  const loginGuard = (c: GatehouseConfig) =>
    new LoginGuard({ maxFailures: c.login_limit.max_failures, windowMs: c.login_limit.window_ms, blockMs: c.login_limit.block_ms });
  proxy.deps.loginGuard = loginGuard(cfg);
  proxy.listener.onConnection = () => {
    metrics.clientConnections.inc();
    metrics.clientConnectionsTotal.inc();
  };
  proxy.pools.onPoolCreated = (pool) => {
    const backend = pool.key.target.name;
    pool.on('connect', () => metrics.countConnect(backend, 'ok'));
    pool.on('connect_error', () => metrics.countConnect(backend, 'error'));
    pool.on('discard', (_conn, reason) => metrics.poolDiscardsTotal.inc({ backend, reason: discardReason(reason) }));
    pool.on('timeout', () => metrics.poolWaitTimeoutsTotal.inc({ backend }));
    pool.on('checkout', (_conn, waitMs) => metrics.observeCheckoutWait(backend, waitMs / 1000));
  };
  metrics.addPoolSource(() =>
    proxy.pools.allPools().map((p) => {
      const s = p.stats();
      return { backend: p.key.target.name, user: p.key.identity.user, idle: s.idle, busy: s.busy, connecting: s.connecting, waiting: s.waiting, max: s.max };
    }),
  );
  let http: HttpFrontend | null;
  try {
    http = await startHttpFrontend(cfg, proxy, { metrics, log });
  } catch (e) {
    await proxy.close();
    throw e;
  }
  const ready = (): Readiness | boolean =>
    stopping ? { ready: false, notReady: ['shutting down'] } : proxy.health ? backendReadiness(proxy.health.status()) : true;
  const status = (): Record<string, unknown> => ({
    backends: proxy.health?.status() ?? [],
    pools: proxy.pools.allPools().map((p) => ({ pool: p.label, ...p.stats() })),
    users: proxy.limiters.stats(),
    clients: proxy.listener.sessions(),
    cache: proxy.deps.cache ? proxy.deps.cache.cache.status() : { enabled: false },
  });
  let admin: AdminServer | null = null;
  if (cfg.admin && !opts.worker) {
    const a = parseHostPort(cfg.admin, true);
    admin = await startAdminServer({
      host: a.host,
      port: a.port,
      metrics,
      isReady: ready,
      isServing: () => !stopping,
      status,
      ...(opts.reloader ? { reload: opts.reloader } : {}),
    });
  }
  if (opts.worker) log.debug({ listen: `${proxy.host}:${proxy.port}` }, 'worker listening');
  else log.info(
    { listen: `${proxy.host}:${proxy.port}`, admin: admin ? `${parseHostPort(cfg.admin!, true).host}:${admin.port}` : null },
    `Gatehouse listening on ${proxy.host}:${proxy.port}${tlsText(proxy)}${http ? `, HTTP on ${http.host}:${http.port}` : ''}${admin ? `, admin on ${parseHostPort(cfg.admin!, true).host}:${admin.port}` : ''}`,
  );

  const running: Running = {
    proxy,
    http,
    admin,
    log,
    metrics,
    ready,
    status,
    async reload(next) {
      const notApplied = [...keysNeedingRestart(current, next), ...reloadHttpFrontend(http, current, next)];
      metrics.allowUsers(next.users.map((u) => u.name));
      // The cache store is kept when its own settings did not change (its entries stay valid); else a new one.
      const cacheChanged = JSON.stringify({ ...current.cache, rules: [] }) !== JSON.stringify({ ...next.cache, rules: [] });
      const oldCache = proxy.deps.cache;
      const nextCache = !cacheChanged && oldCache
        ? { ...cacheSettings(next), cache: oldCache.cache }
        : buildCache(next, metrics, log, limits);
      const r = reconfigure(proxy, {
        backends: backendsOf(next),
        users: proxyUsers(next),
        routing: routingOf(next),
        health: healthOf(next),
        cache: nextCache,
        connectionTimeouts: connectionTimeoutsOf(next),
      });
      if (r.backendsChanged) {
        watchHealth(r.newHealth);
        // Queries placed before the reload may still report to the old monitor: it only stops checking.
        void r.oldHealth?.close();
      }
      if (cacheChanged && oldCache && oldCache.cache !== nextCache?.cache) void oldCache.cache.close();
      if (JSON.stringify(current.login_limit) !== JSON.stringify(next.login_limit)) proxy.deps.loginGuard = loginGuard(next);
      log.level = next.log_level;
      current = next;
      return notApplied;
    },
    async shutdown(timeoutMs) {
      stopping = true;
      await proxy.listener.stopAccepting();
      const httpClosed = http?.close(timeoutMs);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const open = proxy.listener.openSessions();
        for (const s of open) if (s.idle) s.close();
        if (open.every((s) => s.idle)) break;
        if (Date.now() >= deadline) {
          log.warn({ sessions: open.filter((s) => !s.idle).length }, 'shutdown timeout: cancelling the queries still running');
          break;
        }
        await sleep(25);
      }
      await httpClosed;
      await proxy.close();
      await admin?.close();
    },
    async close() {
      stopping = true;
      await http?.close(0);
      await proxy.close();
      await admin?.close();
    },
  };
  return running;
}
