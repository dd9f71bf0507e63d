/**
 * The composition root of `gatehouse serve`: config → pools, listener, metrics and admin server.
 * bin/cli.ts only parses flags and calls this.
 */
import pino, { type Logger } from 'pino';
import { backendGroups, parseHostPort, resolveUserPassword, settingValueText, type GatehouseConfig } from './config';
import { NetworkList, startProxy, type Proxy, type ProxyUser } from './frontend';
import { compileRules } from './router';
import { Metrics, startAdminServer, type AdminServer } from './metrics';
import { withLimits } from './protocol';
import { limitsFromConfig } from './config';
import { buildCache } from './serve-cache';

export interface Running {
  proxy: Proxy;
  admin: AdminServer | null;
  log: Logger;
  close(): Promise<void>;
}

function target(name: string, hostPort: string) {
  const hp = parseHostPort(hostPort);
  return { name, host: hp.host, port: hp.port };
}

/** Discard reasons as a small label set (free text would make unbounded label values). */
function discardReason(reason: string): string {
  const known: [string, string][] = [
    ['not reusable', 'not_reusable'], ['broken', 'broken'], ['mid-query', 'mid_query'], ['closed', 'closed'],
    ['shrunk', 'shrunk'], ['ping', 'ping_failed'], ['idle timeout', 'idle_timeout'],
  ];
  return known.find(([k]) => reason.includes(k))?.[1] ?? 'other';
}

export async function serve(cfg: GatehouseConfig, log: Logger = pino({ level: cfg.log_level })): Promise<Running> {
  const metrics = new Metrics();
  const listen = parseHostPort(cfg.listen, true);
  const identity = (u: { name: string; password: string } | undefined) => (u ? { user: u.name, password: u.password } : undefined);
  const users: ProxyUser[] = cfg.users.map((u) => {
    const pw = resolveUserPassword(u, process.env);
    const limited = u.max_connections !== undefined || u.max_concurrent_queries !== undefined || u.max_queries_per_second !== undefined;
    return {
      name: u.name,
      password: pw.kind === 'plain' ? pw.password : undefined,
      passwordSha256Hex: pw.kind === 'sha256' ? pw.sha256Hex : undefined,
      readonly: u.readonly,
      networks: u.networks ? new NetworkList(u.networks) : undefined,
      database: u.database,
      readIdentity: identity(u.read_user),
      writeIdentity: identity(u.write_user),
      settings: Object.entries(u.settings).map(([name, value]) => ({ name, value: settingValueText(value) })),
      limits: limited
        ? {
            maxConnections: u.max_connections ?? null,
            maxConcurrentQueries: u.max_concurrent_queries ?? null,
            queueSize: u.queue_size,
            queueTimeoutMs: u.queue_timeout_ms,
            maxQueriesPerSecond: u.max_queries_per_second ?? null,
          }
        : undefined,
      queryTimeoutMs: u.query_timeout_ms,
    };
  });
  const groups = backendGroups(cfg).map((g) => ({
    name: g.name,
    writer: target(g.writer.name, g.writer.address),
    readers: g.readers.map((r) => ({ target: target(r.name, r.address), weight: r.weight })),
  }));
  const h = cfg.health;
  const limits = withLimits(limitsFromConfig(cfg.limits ?? {}));
  const cache = buildCache(cfg, metrics, log, limits);
  const proxy = await startProxy({
    host: listen.host,
    port: listen.port,
    backends: {
      groups,
      readIdentity: identity(cfg.read_user) ?? null,
      writeIdentity: identity(cfg.write_user) ?? null,
    },
    users,
    poolMode: cfg.pool.mode,
    pool: {
      minIdle: cfg.pool.min_idle,
      maxSize: cfg.pool.max_size,
      waitTimeoutMs: cfg.pool.wait_timeout_ms,
      connectTimeoutMs: cfg.pool.connect_timeout_ms,
      idleCheckMs: cfg.pool.idle_check_ms,
      idleTimeoutMs: cfg.pool.idle_timeout_ms,
      drainTimeoutMs: cfg.pool.drain_timeout_ms,
    },
    resultBuffering: cfg.streaming.result_buffering,
    bufferMaxBytes: cfg.streaming.buffer_max_bytes,
    maxPendingClientBytes: cfg.streaming.max_pending_client_bytes,
    verifyChecksums: cfg.streaming.verify_checksums,
    limits,
    cache,
    health: {
      intervalMs: h.interval_ms,
      timeoutMs: h.timeout_ms,
      failuresToBan: h.failures_to_ban,
      banMs: h.ban_ms,
      maxBanMs: h.max_ban_ms,
      maxReplicaDelaySeconds: h.max_replica_delay_s,
      replicaDelayQuery: h.replica_delay_query,
    },
    routing: {
      retries: cfg.routing.retries,
      readsFallbackToWriter: cfg.routing.reads_fallback_to_writer,
      readAfterWriteMs: cfg.routing.read_after_write_ms,
      rules: compileRules(cfg.routing.rules),
    },
    events: {
      query: (route, kind) => {
        metrics.countQuery(route, kind as 'read');
      },
      queryDone: (route, seconds, error) => {
        metrics.observeQueryDuration(route, seconds);
        if (error) metrics.countQueryError(error.origin, error.code);
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
  for (const t of proxy.router.allTargets()) metrics.backendBanned.set({ backend: t.target.name }, 0);
  // One warning per outage; renewals of a ban while the backend stays down are debug lines.
  const banned = new Set<string>();
  proxy.health?.on('ban', (s) => {
    const fields = { backend: s.name, address: s.address, reason: s.banReason, until: s.bannedUntil };
    if (banned.has(s.name)) log.debug(fields, 'backend ban renewed');
    else {
      log.warn(fields, 'backend banned');
      metrics.backendBansTotal.inc({ backend: s.name });
    }
    banned.add(s.name);
    metrics.backendBanned.set({ backend: s.name }, 1);
  });
  proxy.health?.on('unban', (s, cause) => {
    banned.delete(s.name);
    metrics.backendBanned.set({ backend: s.name }, 0);
    log.info({ backend: s.name, address: s.address, cause }, 'backend back in rotation');
  });
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
  };
  metrics.addPoolSource(() =>
    proxy.pools.allPools().map((p) => {
      const s = p.stats();
      return { backend: p.key.target.name, user: p.key.identity.user, idle: s.idle, busy: s.busy, waiting: s.waiting };
    }),
  );
  let admin: AdminServer | null = null;
  if (cfg.admin) {
    const a = parseHostPort(cfg.admin, true);
    admin = await startAdminServer({
      host: a.host,
      port: a.port,
      metrics,
      isReady: () => true,
      status: () => ({
        backends: proxy.health?.status() ?? [],
        pools: proxy.pools.allPools().map((p) => ({ pool: p.label, ...p.stats() })),
        users: proxy.limiters.stats(),
        clients: proxy.listener.sessions(),
        cache: cache ? cache.cache.status() : { enabled: false },
      }),
    });
  }
  log.info(
    { listen: `${proxy.host}:${proxy.port}`, admin: admin ? `${parseHostPort(cfg.admin!, true).host}:${admin.port}` : null },
    `Gatehouse listening on ${proxy.host}:${proxy.port}${admin ? `, admin on ${parseHostPort(cfg.admin!, true).host}:${admin.port}` : ''}`,
  );
  return {
    proxy,
    admin,
    log,
    async close() {
      await proxy.close();
      await admin?.close();
    },
  };
}
