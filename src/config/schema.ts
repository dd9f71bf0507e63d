/**
 * The configuration schema: the only source of config types and defaults. YAML keys are snake_case; every object is
 * strict (an unknown key is an error, as in chproxy), and cross-field rules carry the path they are about.
 */
import { z } from 'zod';
import { hostPortMessage, tryParseHostPort } from './host-port';
import { LIMIT_KEYS, type LimitKey } from './limits';

export { parseHostPort, type HostPort } from './host-port';

/** setTimeout's largest delay; a larger one silently becomes 1 ms in Node. */
const MAX_TIMER_MS = 2_147_483_647;

/** A listening address: port 0 means any free port. */
const listenHostPort = z.string().refine(
  (s) => tryParseHostPort(s, true) !== undefined,
  (s) => ({ message: hostPortMessage(s) }),
);
const hostPort = z.string().refine(
  (s) => tryParseHostPort(s) !== undefined,
  (s) => ({ message: hostPortMessage(s) }),
);
const ms = (min: 0 | 1, fallback: number) => z.number().int().min(min).max(MAX_TIMER_MS).default(fallback);
const bytes = (fallback: number) => z.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(fallback);

/** A user clients log in to the proxy as. */
const proxyUserSchema = z
  .strictObject({
    name: z.string().min(1, 'must not be empty'),
    password: z.string().optional(),
    password_sha256_hex: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits (SHA-256)').optional(),
    /** A readonly proxy user may only run reads. */
    readonly: z.boolean().default(false),
  })
  .superRefine((u, ctx) => {
    if ((u.password === undefined) === (u.password_sha256_hex === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'set exactly one of password, password_sha256_hex' });
    }
  });

/** An identity the proxy uses towards the backends. */
const backendUserSchema = z.strictObject({
  name: z.string().min(1, 'must not be empty'),
  password: z.string().default(''),
});

const poolSchema = z
  .strictObject({
    mode: z.enum(['query', 'session']).default('query'),
    /** Warm connections kept per pool key. */
    min_idle: z.number().int().min(0).default(1),
    /** null: derived from the backend's cores, (cores * 2) + 1. */
    max_size: z.number().int().min(1).nullable().default(null),
    wait_timeout_ms: ms(1, 5_000),
    connect_timeout_ms: ms(1, 5_000),
    /** Ping an idle connection older than this before lending it. */
    idle_check_ms: ms(0, 30_000),
    /** Close idle connections above min_idle after this. */
    idle_timeout_ms: ms(1, 300_000),
    /** After a cancel or disconnect, how long to drain a backend connection before dropping it. */
    drain_timeout_ms: ms(0, 5_000),
  })
  .superRefine((p, ctx) => {
    if (p.max_size !== null && p.min_idle > p.max_size) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['min_idle'], message: `must be <= pool.max_size (${p.max_size})` });
    }
  });

const streamingSchema = z.strictObject({
  result_buffering: z.enum(['stream', 'buffer']).default('stream'),
  /** Cap on a buffered result (result_buffering: buffer). */
  buffer_max_bytes: bytes(64 * 1024 * 1024),
  /** Client packets queued while the client waits for a backend connection. */
  max_pending_client_bytes: bytes(8 * 1024 * 1024),
  /**
   * Verify compressed-frame checksums of relayed streams in the proxy too. Off by default: the
   * frames pass through unchanged and the client (or server) that reads them verifies them.
   */
  verify_checksums: z.boolean().default(false),
});

const limitValue = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const limitsSchema = z.strictObject(
  Object.fromEntries(Object.keys(LIMIT_KEYS).map((k) => [k, limitValue.optional()])) as Record<
    LimitKey,
    z.ZodOptional<typeof limitValue>
  >,
);

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;

/** The whole configuration file (and the flags, which are mapped onto it). */
export const configSchema = z
  .strictObject({
    /** HOST:PORT of the native-protocol listener. */
    listen: listenHostPort.default('127.0.0.1:9000'),
    /** HOST:PORT of the admin HTTP server (/health, /metrics); none when absent. */
    admin: listenHostPort.optional(),
    writer: hostPort,
    /** With no readers, reads go to the writer. */
    readers: z.array(hostPort).default([]),
    users: z.array(proxyUserSchema).default([]),
    read_user: backendUserSchema.optional(),
    write_user: backendUserSchema.optional(),
    pool: poolSchema.default({}),
    streaming: streamingSchema.default({}),
    limits: limitsSchema.default({}),
    log_level: z.enum(LOG_LEVELS).default('info'),
  })
  .superRefine((c, ctx) => {
    const custom = (path: (string | number)[], message: string): void =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    for (const [key, other] of [['read_user', 'write_user'], ['write_user', 'read_user']] as const) {
      if (c[key] !== undefined) continue;
      if (c[other] !== undefined) custom([key], `required when ${other} is set`);
      else if (c.users.length > 0) custom([key], 'required when users are set (the proxy logs in to the backends as it)');
    }
    const firstIndex = new Map<string, number>();
    c.users.forEach((u, i) => {
      const first = firstIndex.get(u.name);
      if (first === undefined) firstIndex.set(u.name, i);
      else custom(['users', i, 'name'], `duplicate user name ${JSON.stringify(u.name)} (also users.${first})`);
    });
    const listen = tryParseHostPort(c.listen, true);
    const admin = c.admin === undefined ? undefined : tryParseHostPort(c.admin, true);
    if (listen && admin && listen.port !== 0 && listen.host === admin.host && listen.port === admin.port) {
      custom(['admin'], `must differ from listen (${c.listen})`);
    }
  });

/** The validated configuration, defaults applied. */
export type GatehouseConfig = z.infer<typeof configSchema>;
/** What a config file may contain before defaults (keys with defaults are optional). */
export type GatehouseConfigInput = z.input<typeof configSchema>;
/** One proxy user. */
export type ProxyUser = GatehouseConfig['users'][number];
/** A backend identity (read_user, write_user). */
export type BackendUser = NonNullable<GatehouseConfig['read_user']>;
/** A log level. */
export type LogLevel = GatehouseConfig['log_level'];
