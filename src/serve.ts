/**
 * The composition root of `gatehouse serve`: config → pools, listener, metrics and admin server.
 * bin/cli.ts only parses flags and calls this.
 */
import pino, { type Logger } from 'pino';
import { parseHostPort, type GatehouseConfig } from './config';
import { startProxy, type Proxy, type ProxyUser } from './frontend';
import { Metrics, startAdminServer, type AdminServer } from './metrics';
import { withLimits } from './protocol';
import { limitsFromConfig } from './config';

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
  const users: ProxyUser[] = cfg.users.map((u) => ({
    name: u.name,
    password: u.password,
    passwordSha256Hex: u.password_sha256_hex,
    readonly: u.readonly,
  }));
  const proxy = await startProxy({
    host: listen.host,
    port: listen.port,
    backends: {
      writer: target('writer', cfg.writer),
      readers: cfg.readers.map((r, i) => target(`reader${i + 1}`, r)),
      readIdentity: cfg.read_user ? { user: cfg.read_user.name, password: cfg.read_user.password } : null,
      writeIdentity: cfg.write_user ? { user: cfg.write_user.name, password: cfg.write_user.password } : null,
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
    limits: withLimits(limitsFromConfig(cfg.limits ?? {})),
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
    },
    log: (level, msg, fields) => log[level](fields ?? {}, msg),
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
    admin = await startAdminServer({ host: a.host, port: a.port, metrics, isReady: () => true });
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
