/**
 * The proxy's options from a validated config, shared by start-up and reload (part of the composition root).
 */
import { backendGroups, parseHostPort, resolveUserPassword, settingValueText, type GatehouseConfig } from './config';
import { NetworkList, type Backends, type ConnectionTimeouts, type ProxyUser, type Reconfiguration } from './frontend';
import type { HealthOptions } from './pool';
import { compileRules } from './router';

function target(name: string, hostPort: string) {
  const hp = parseHostPort(hostPort);
  return { name, host: hp.host, port: hp.port };
}

const identity = (u: { name: string; password: string } | undefined) => (u ? { user: u.name, password: u.password } : undefined);

/** Proxy users with their passwords resolved (password_env read now) and limits in the limiter's terms. */
export function proxyUsers(cfg: GatehouseConfig, env: NodeJS.ProcessEnv = process.env): ProxyUser[] {
  return cfg.users.map((u) => {
    const pw = resolveUserPassword(u, env);
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
}

/** Backend groups and the global backend identities. */
export function backendsOf(cfg: GatehouseConfig): Backends {
  const groups = backendGroups(cfg).map((g) => ({
    name: g.name,
    writer: target(g.writer.name, g.writer.address),
    readers: g.readers.map((r) => ({ target: target(r.name, r.address), weight: r.weight })),
  }));
  return { groups, readIdentity: identity(cfg.read_user) ?? null, writeIdentity: identity(cfg.write_user) ?? null };
}

export function healthOf(cfg: GatehouseConfig): HealthOptions {
  const h = cfg.health;
  return {
    intervalMs: h.interval_ms,
    timeoutMs: h.timeout_ms,
    failuresToBan: h.failures_to_ban,
    banMs: h.ban_ms,
    maxBanMs: h.max_ban_ms,
    maxReplicaDelaySeconds: h.max_replica_delay_s,
    replicaDelayQuery: h.replica_delay_query,
  };
}

export function routingOf(cfg: GatehouseConfig): Reconfiguration['routing'] {
  return {
    retries: cfg.routing.retries,
    readsFallbackToWriter: cfg.routing.reads_fallback_to_writer,
    readAfterWriteMs: cfg.routing.read_after_write_ms,
    rules: compileRules(cfg.routing.rules),
  };
}

/** The connections.* timeouts of client connections (a reload applies them to open connections too). */
export function connectionTimeoutsOf(cfg: GatehouseConfig): ConnectionTimeouts {
  const c = cfg.connections;
  return { handshakeTimeoutMs: c.handshake_timeout_ms, idleTimeoutMs: c.idle_timeout_ms, clientReceiveTimeoutMs: c.receive_timeout_ms };
}

/** Keys of `connections` a reload applies (the rest of the section needs a restart). */
const RELOADABLE_CONNECTIONS_KEYS = ['handshake_timeout_ms', 'idle_timeout_ms', 'receive_timeout_ms'] as const;

function withoutReloadable(c: GatehouseConfig['connections']): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...c };
  for (const k of RELOADABLE_CONNECTIONS_KEYS) delete rest[k];
  return rest;
}

/**
 * Top-level keys a reload cannot apply (they shape listeners, pools, workers or the wire limits): changed ones are
 * reported and take effect at the next restart.
 */
const RESTART_KEYS = ['listen', 'admin', 'tls', 'backend_tls', 'pool', 'streaming', 'limits', 'lifecycle', 'allow_insecure_listen', 'connections'] as const;

export function keysNeedingRestart(before: GatehouseConfig, after: GatehouseConfig): string[] {
  return RESTART_KEYS.filter((k) =>
    k === 'connections'
      ? JSON.stringify(withoutReloadable(before.connections)) !== JSON.stringify(withoutReloadable(after.connections))
      : JSON.stringify(before[k]) !== JSON.stringify(after[k]),
  );
}
