/** Printing a configuration without its secrets. */
import type { GatehouseConfig } from './schema';

const MASK = '***';

/** A copy with every password and password hash replaced by "***" (an empty backend password stays ""). */
export function redactConfig(cfg: GatehouseConfig): GatehouseConfig {
  const mask = (s: string | undefined): string | undefined => (s === undefined || s === '' ? s : MASK);
  const backend = (u: GatehouseConfig['read_user']): GatehouseConfig['read_user'] =>
    u === undefined ? undefined : { ...u, password: mask(u.password) ?? '' };
  return {
    ...cfg,
    readers: [...cfg.readers],
    users: cfg.users.map((u) => ({
      ...u,
      ...(u.password !== undefined ? { password: MASK } : {}),
      ...(u.password_sha256_hex !== undefined ? { password_sha256_hex: MASK } : {}),
    })),
    read_user: backend(cfg.read_user),
    write_user: backend(cfg.write_user),
    pool: { ...cfg.pool },
    streaming: { ...cfg.streaming },
    limits: { ...cfg.limits },
  };
}

/** One line for the start-up log, e.g. `listen=127.0.0.1:9000 writer=... readers=[...] users=app,ro(readonly) ...`. */
export function describeConfig(cfg: GatehouseConfig): string {
  const users = cfg.users.map((u) => (u.readonly ? `${u.name}(readonly)` : u.name)).join(',');
  const limits = Object.entries(cfg.limits)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const parts = [
    `listen=${cfg.listen}`,
    `admin=${cfg.admin ?? 'off'}`,
    `writer=${cfg.writer}`,
    `readers=[${cfg.readers.join(',')}]`,
    `users=${users === '' ? '(pass-through)' : users}`,
    `read_user=${cfg.read_user?.name ?? '-'}`,
    `write_user=${cfg.write_user?.name ?? '-'}`,
    `pool=${cfg.pool.mode}(min_idle=${cfg.pool.min_idle},max_size=${cfg.pool.max_size ?? 'auto'})`,
    `streaming=${cfg.streaming.result_buffering}`,
    ...(limits === '' ? [] : [`limits=${limits}`]),
    `log_level=${cfg.log_level}`,
  ];
  return parts.join(' ');
}
