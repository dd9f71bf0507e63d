/**
 * The configuration schema: the only source of config types and defaults. YAML keys are snake_case; every object is
 * strict (an unknown key is an error, as in chproxy), and cross-field rules carry the path they are about.
 * Sections live in schema-fields.ts (shared fields), schema-users.ts, schema-routing.ts, schema-cache.ts and
 * schema-ops.ts (TLS, connection and login limits, lifecycle).
 */
import { isIPv6 } from 'node:net';
import { z } from 'zod';
import { tryParseHostPort } from './host-port';
import { DEFAULT_GROUP, readerName, writerName, type BackendSpec } from './groups';
import { LIMIT_KEYS, type LimitKey } from './limits';
import { cacheSchema } from './schema-cache';
import { LABEL_NAME, bytes, hostPort, listenHostPort, ms } from './schema-fields';
import {
  RESERVED_GROUP_NAMES,
  groupSchema,
  healthSchema,
  readerEntrySchema,
  routingSchema,
  type RULE_KINDS,
} from './schema-routing';
import { backendUserSchema, proxyUserSchema } from './schema-users';
import { backendTlsSchema, clientTlsSchema, connectionsSchema, httpSchema, lifecycleSchema, loginLimitSchema } from './schema-ops';

export { parseHostPort, type HostPort } from './host-port';
export type { CacheConfig, CacheRuleConfig, CacheStoreKind } from './schema-cache';

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
    /**
     * While a query waits for its backend, nothing at all (not even Progress) arriving for this long closes that
     * backend connection and answers the client 209, as ClickHouse's client does after its receive_timeout (300 s).
     * 0: no limit.
     */
    receive_timeout_ms: ms(0, 300_000),
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
  /**
   * A client that stops reading its result for this long is closed and its backend query cancelled, so it cannot hold
   * a backend connection forever (ClickHouse's own send_timeout is 300 s).
   */
  max_paused_ms: ms(1, 300_000),
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

type Path = (string | number)[];
type Raw = z.infer<typeof objectSchema>;

const objectSchema = z.strictObject({
  /** HOST:PORT of the native-protocol listener. */
  listen: listenHostPort.default('127.0.0.1:9000'),
  /** HOST:PORT of the admin HTTP server (/health, /metrics); none when absent. */
  admin: listenHostPort.optional(),
  writer: hostPort,
  /** With no readers, reads go to the writer. */
  readers: z.array(readerEntrySchema).default([]),
  /** Named backend groups besides the top-level one (`default`); routing rules send statements to them. */
  groups: z.record(z.string(), groupSchema).default({}),
  health: healthSchema.default({}),
  routing: routingSchema.default({}),
  users: z.array(proxyUserSchema).default([]),
  read_user: backendUserSchema.optional(),
  write_user: backendUserSchema.optional(),
  pool: poolSchema.default({}),
  streaming: streamingSchema.default({}),
  /** The result cache (off by default). */
  cache: cacheSchema.default({}),
  limits: limitsSchema.default({}),
  log_level: z.enum(LOG_LEVELS).default('info'),
  /** A TLS listener for clients (secure native port). */
  tls: clientTlsSchema.optional(),
  /** TLS towards the backends. */
  backend_tls: backendTlsSchema.default({}),
  /**
   * Listening on a non-loopback address without TLS, or without proxy users, is refused unless this says the exposure
   * is intended (a proxy that passes any client's credentials through, in clear text, on a network).
   */
  allow_insecure_listen: z.boolean().default(false),
  connections: connectionsSchema.default({}),
  login_limit: loginLimitSchema.default({}),
  lifecycle: lifecycleSchema.default({}),
  /** The ClickHouse HTTP interface on a second port; absent: none. */
  http: httpSchema.optional(),
});

function crossChecks(c: Raw, custom: (path: Path, message: string) => void): void {
  for (const [key, other] of [['read_user', 'write_user'], ['write_user', 'read_user']] as const) {
    if (c[key] !== undefined) continue;
    if (c[other] !== undefined) custom([key], `required when ${other} is set`);
    // A user with its own identity does not need the global one.
    else if (c.users.some((u) => u[key] === undefined)) {
      custom([key], 'required when users are set (the proxy logs in to the backends as it)');
    }
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
  checkGroups(c, custom);
  checkExposure(c, custom);
  checkTls(c, custom);
}

/**
 * True for localhost, 127.0.0.0/8 and ::1 (also written long, or as IPv4-mapped ::ffff:127.x.y.z). A host name other
 * than localhost counts as reachable from the network: what it resolves to is not known here.
 */
function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost' || /^127(?:\.[0-9]{1,3}){3}$/.test(host)) return true;
  if (!isIPv6(host)) return false;
  const canonical = new URL(`http://[${host}]/`).hostname; // [::1], [::ffff:7f00:1] for ::ffff:127.0.0.1
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

/**
 * Refuses a listener reachable from the network without TLS or without users, unless allow_insecure_listen: a proxy
 * that passes any client's credentials through, or takes passwords in clear text, must not be exposed by accident.
 */
function checkExposure(c: Raw, custom: (path: Path, message: string) => void): void {
  if (c.allow_insecure_listen) return;
  const listen = tryParseHostPort(c.listen, true);
  const plainOpen = !(c.tls?.require ?? false);
  if (listen && plainOpen && !isLoopback(listen.host)) {
    const fix = 'serve it with tls (tls.require: true) or set allow_insecure_listen: true';
    custom(['listen'], `${listen.host} is not a loopback address: ${fix}`);
  }
  const tlsListen = c.tls ? tryParseHostPort(c.tls.listen, true) : undefined;
  const exposed = (listen && plainOpen && !isLoopback(listen.host)) || (tlsListen && !isLoopback(tlsListen.host));
  if (exposed && c.users.length === 0) {
    custom(['users'], 'a listener on a non-loopback address needs proxy users (or allow_insecure_listen: true)');
  }
}

/** TLS listener address against the others; backend TLS keys that would be silently ignored or are half given. */
function checkTls(c: Raw, custom: (path: Path, message: string) => void): void {
  const tlsListen = c.tls ? tryParseHostPort(c.tls.listen, true) : undefined;
  // With tls.require the plain port is not opened, so only the admin port can clash.
  const others = c.tls?.require ? (['admin'] as const) : (['listen', 'admin'] as const);
  for (const key of others) {
    const other = c[key] === undefined ? undefined : tryParseHostPort(c[key], true);
    if (tlsListen && other && tlsListen.port !== 0 && tlsListen.host === other.host && tlsListen.port === other.port) {
      custom(['tls', 'listen'], `must differ from ${key} (${c[key]})`);
    }
  }
  const b = c.backend_tls;
  const given: string[] = (['ca_file', 'cert_file', 'key_file', 'server_name'] as const).filter((k) => b[k] !== undefined);
  if (b.insecure_skip_verify) given.push('insecure_skip_verify');
  if (!b.enabled && given.length > 0) {
    // Without this, an operator who wrote a CA file would believe the backend links are encrypted.
    const are = given.length === 1 ? 'is' : 'are';
    custom(['backend_tls', 'enabled'], `must be true when ${given.join(', ')} ${are} set (backend connections are not encrypted otherwise)`);
  }
  if ((b.cert_file === undefined) !== (b.key_file === undefined)) {
    const [missing, present] = b.cert_file === undefined ? ['cert_file', 'key_file'] : ['key_file', 'cert_file'];
    custom(['backend_tls', missing], `required when backend_tls.${present} is set`);
  }
  if (b.insecure_skip_verify && b.ca_file !== undefined) {
    custom(['backend_tls', 'ca_file'], 'not used when insecure_skip_verify is true (certificates are not verified)');
  }
}

/** Group names, unique backend names over all groups, and rule targets that exist. */
function checkGroups(c: Raw, custom: (path: Path, message: string) => void): void {
  const groupNames = Object.keys(c.groups);
  for (const name of groupNames) {
    if (RESERVED_GROUP_NAMES.includes(name)) custom(['groups', name], `${JSON.stringify(name)} is reserved (default, writer, readers)`);
    else if (!LABEL_NAME.test(name)) custom(['groups', name], 'a group name has letters, digits, _, . or - only');
  }
  const seen = new Map<string, string>();
  const claim = (name: string, path: Path): void => {
    const where = path.join('.');
    const first = seen.get(name);
    if (first === undefined) seen.set(name, where);
    else custom(path, `duplicate backend name ${JSON.stringify(name)} (also ${first})`);
  };
  const claimGroup = (group: string, readers: Raw['readers'], at: Path): void => {
    claim(writerName(group), [...at, 'writer']);
    readers.forEach((r, i) => claim(r.name ?? readerName(group, i), [...at, 'readers', i, ...(r.name ? ['name'] : [])]));
  };
  claimGroup(DEFAULT_GROUP, c.readers, []);
  for (const name of groupNames) {
    if (!RESERVED_GROUP_NAMES.includes(name)) claimGroup(name, c.groups[name]!.readers, ['groups', name]);
  }

  const targets = ['writer', 'readers', ...groupNames];
  c.routing.rules.forEach((r, i) => {
    if (r.target !== undefined && !targets.includes(r.target)) {
      custom(
        ['routing', 'rules', i, 'target'],
        `unknown target ${JSON.stringify(r.target)}: expected writer, readers or a group (${groupNames.join(', ') || 'none defined'})`,
      );
    }
  });
}

/** Fills in reader names from their group and position. */
function resolveNames(c: Raw) {
  const named = (group: string, readers: Raw['readers']): BackendSpec[] =>
    readers.map((r, i) => ({ name: r.name ?? readerName(group, i), address: r.address, weight: r.weight }));
  return {
    ...c,
    readers: named(DEFAULT_GROUP, c.readers),
    groups: Object.fromEntries(
      Object.entries(c.groups).map(([name, g]) => [name, { writer: g.writer, readers: named(name, g.readers) }]),
    ),
  };
}

/** The whole configuration file (and the flags, which are mapped onto it). */
export const configSchema = objectSchema
  .superRefine((c, ctx) => crossChecks(c, (path, message) => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message })))
  .transform(resolveNames);

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
/** The `health:` section. */
export type HealthConfig = GatehouseConfig['health'];
/** The `routing:` section. */
export type RoutingConfig = GatehouseConfig['routing'];
/** One routing rule as configured. */
export type RoutingRule = RoutingConfig['rules'][number];
/** A statement kind a rule can match. */
export type RuleKind = (typeof RULE_KINDS)[number];
/** One named group as configured (readers with names resolved). */
export type GroupConfig = GatehouseConfig['groups'][string];
