/** Printing a configuration without its secrets. */
import { redactRedisUrl } from './redis-url';
import type { GatehouseConfig } from './schema';

const MASK = '***';

type Backend = GatehouseConfig['read_user'];

/**
 * A copy with every password and password hash replaced by "***" (an empty backend password stays ""), including the
 * password inside the cache's Redis URL (scheme, host and port stay). The names of password_env / url_env variables
 * are not secret and stay, and so do TLS certificate and key file paths (the files themselves are never read here).
 */
export function redactConfig(cfg: GatehouseConfig): GatehouseConfig {
  const mask = (s: string | undefined): string | undefined => (s === undefined || s === '' ? s : MASK);
  const backend = (u: Backend): Backend => (u === undefined ? undefined : { ...u, password: mask(u.password) ?? '' });
  return {
    ...cfg,
    readers: cfg.readers.map((r) => ({ ...r })),
    groups: Object.fromEntries(
      Object.entries(cfg.groups).map(([k, g]) => [k, { ...g, readers: g.readers.map((r) => ({ ...r })) }]),
    ),
    health: { ...cfg.health },
    routing: { ...cfg.routing, rules: cfg.routing.rules.map((r) => ({ ...r })) },
    users: cfg.users.map((u) => ({
      ...u,
      ...(u.password !== undefined ? { password: MASK } : {}),
      ...(u.password_sha256_hex !== undefined ? { password_sha256_hex: MASK } : {}),
      ...(u.read_user !== undefined ? { read_user: backend(u.read_user) } : {}),
      ...(u.write_user !== undefined ? { write_user: backend(u.write_user) } : {}),
    })),
    read_user: backend(cfg.read_user),
    write_user: backend(cfg.write_user),
    pool: { ...cfg.pool },
    streaming: { ...cfg.streaming },
    limits: { ...cfg.limits },
    cache: {
      ...cfg.cache,
      redis: {
        ...cfg.cache.redis,
        nodes: [...cfg.cache.redis.nodes],
        ...(cfg.cache.redis.url !== undefined ? { url: redactRedisUrl(cfg.cache.redis.url) } : {}),
        ...(cfg.cache.redis.password !== undefined ? { password: MASK } : {}),
      },
      rules: cfg.cache.rules.map((r) => ({ ...r })),
    },
    ...(cfg.tls !== undefined ? { tls: { ...cfg.tls } } : {}),
    backend_tls: { ...cfg.backend_tls },
    connections: { ...cfg.connections },
    login_limit: { ...cfg.login_limit },
    lifecycle: { ...cfg.lifecycle },
  };
}

/** `off`, or the store and default TTL: `memory(ttl=60s)`, `redis(ttl=60s)` (never the Redis URL). */
function describeCache(c: GatehouseConfig['cache']): string {
  return c.enabled ? `${c.store}(ttl=${c.ttl_seconds}s)` : 'off';
}

/**
 * The client TLS listener, `ADDR` or `ADDR(require,client_cert)`: require = the plain listener is closed, client_cert
 * = clients must present a certificate (ca_file). Backend TLS is `verify` or `insecure` (certificates not checked).
 */
function describeTls(cfg: GatehouseConfig): string[] {
  const parts: string[] = [];
  if (cfg.tls) {
    const flags = [...(cfg.tls.require ? ['require'] : []), ...(cfg.tls.ca_file !== undefined ? ['client_cert'] : [])];
    parts.push(`tls=${cfg.tls.listen}${flags.length === 0 ? '' : `(${flags.join(',')})`}`);
  }
  if (cfg.backend_tls.enabled) parts.push(`backend_tls=${cfg.backend_tls.insecure_skip_verify ? 'insecure' : 'verify'}`);
  return parts;
}

/**
 * One line for the start-up log, e.g. `listen=127.0.0.1:9000 writer=... readers=[...] users=app,ro(readonly) ...`.
 * A reader's weight shows as `address*weight` when it is not 1; groups, rules and TLS appear only when configured,
 * and `listen=off` says tls.require closed the plain listener.
 */
export function describeConfig(cfg: GatehouseConfig): string {
  const users = cfg.users.map((u) => (u.readonly ? `${u.name}(readonly)` : u.name)).join(',');
  const limits = Object.entries(cfg.limits)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const readers = (rs: GatehouseConfig['readers']): string =>
    `[${rs.map((r) => (r.weight === 1 ? r.address : `${r.address}*${r.weight}`)).join(',')}]`;
  const groups = Object.entries(cfg.groups).map(([name, g]) => `${name}(writer=${g.writer},readers=${readers(g.readers)})`);
  const parts = [
    `listen=${cfg.tls?.require ? 'off' : cfg.listen}`,
    ...describeTls(cfg),
    `admin=${cfg.admin ?? 'off'}`,
    `writer=${cfg.writer}`,
    `readers=${readers(cfg.readers)}`,
    ...(groups.length === 0 ? [] : [`groups=${groups.join(',')}`]),
    ...(cfg.routing.rules.length === 0 ? [] : [`rules=${cfg.routing.rules.length}`]),
    `users=${users === '' ? '(pass-through)' : users}`,
    `read_user=${cfg.read_user?.name ?? '-'}`,
    `write_user=${cfg.write_user?.name ?? '-'}`,
    `pool=${cfg.pool.mode}(min_idle=${cfg.pool.min_idle},max_size=${cfg.pool.max_size ?? 'auto'})`,
    `streaming=${cfg.streaming.result_buffering}`,
    `cache=${describeCache(cfg.cache)}`,
    ...(limits === '' ? [] : [`limits=${limits}`]),
    `log_level=${cfg.log_level}`,
  ];
  return parts.join(' ');
}
