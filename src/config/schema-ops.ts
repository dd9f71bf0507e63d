/**
 * Operations sections of the configuration (issue 6): TLS on both sides, the listener's exposure rules, connection
 * and login limits, worker processes and shutdown.
 */
import { z } from 'zod';
import { listenHostPort, ms, optionalCount, optionalMs } from './schema-fields';

/** TLS for clients: ClickHouse's secure native port convention (tcp_port_secure, 9440). */
export const clientTlsSchema = z.strictObject({
  /** HOST:PORT of the TLS listener (a second listener besides `listen`). */
  listen: listenHostPort.default('127.0.0.1:9440'),
  /** PEM certificate chain and private key presented to clients. */
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  /** PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS). */
  ca_file: z.string().min(1).optional(),
  /** Serve TLS only: the plain `listen` port is not opened. */
  require: z.boolean().default(false),
});

/** TLS towards the backends (their secure native port): certificates are verified unless told otherwise. */
export const backendTlsSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** PEM CA bundle to verify backend certificates with (default: the system's CAs). */
  ca_file: z.string().min(1).optional(),
  /** Client certificate and key, for backends that require one. */
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  /** Name checked against the backend certificate (default: the backend's host). */
  server_name: z.string().min(1).optional(),
  /** Do not verify backend certificates. Only for tests and throw-away set-ups. */
  insecure_skip_verify: z.boolean().default(false),
});

/** Failed logins per client address: past `max_failures` within `window_ms`, logins are refused for `block_ms`. */
export const loginLimitSchema = z.strictObject({
  max_failures: z.number().int().min(1).default(5),
  window_ms: ms(1, 60_000),
  block_ms: ms(1, 60_000),
});

/** Client connections: an overall cap (per-user caps are users[].max_connections). */
export const connectionsSchema = z.strictObject({
  max: optionalCount(),
  /**
   * A client must complete its Hello within this long after connecting, else it gets Exception 159 and is closed
   * (slowloris: one byte a second would otherwise hold a socket forever). Absent: 10 000 ms.
   */
  handshake_timeout_ms: optionalMs(),
  /**
   * A logged-in client with no query running that sends nothing for this long is closed, silently, as ClickHouse does
   * after its idle_connection_timeout (3600 s, TCPHandler::runImpl). 0: no limit.
   */
  idle_timeout_ms: ms(0, 3_600_000),
  /**
   * A logged-in client that sent part of a packet and nothing more for this long gets Exception 209 and is closed, as
   * ClickHouse does after its receive_timeout (300 s). 0: no limit.
   */
  receive_timeout_ms: ms(0, 300_000),
});

/** Process model and lifecycle. */
export const lifecycleSchema = z.strictObject({
  /** Worker processes sharing the listening ports (Node's cluster module); 'auto' = one per core. */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default('auto'),
  /** On SIGTERM/SIGINT: how long in-flight queries may run before they are cancelled on the backends. */
  shutdown_timeout_ms: ms(0, 30_000),
});

export type ClientTlsConfig = z.infer<typeof clientTlsSchema>;
export type BackendTlsConfig = z.infer<typeof backendTlsSchema>;
export type LoginLimitConfig = z.infer<typeof loginLimitSchema>;
export type LifecycleConfig = z.infer<typeof lifecycleSchema>;

/** The ClickHouse HTTP interface on a second port (issue 7). */
export const httpSchema = z.strictObject({
  /** HOST:PORT of the HTTP listener. */
  listen: listenHostPort,
  /** The backends' HTTP port (ClickHouse's http_port), when a backend has no entry in backend_ports. */
  backend_port: z.number().int().min(1).max(65535).default(8123),
  /** Per backend name (writer, reader1, or the names given in readers/groups): its HTTP port. */
  backend_ports: z.record(z.string(), z.number().int().min(1).max(65535)).default({}),
  /**
   * With backend_tls, backends are reached over HTTPS on this port (ClickHouse's https_port: 8443 in the example
   * that Debian's 18.16 config.xml comments out) instead of backend_port, with backend_tls's certificate checks.
   */
  backend_https_port: z.number().int().min(1).max(65535).default(8443),
  /** Per backend name, its HTTPS port (with backend_tls). */
  backend_https_ports: z.record(z.string(), z.number().int().min(1).max(65535)).default({}),
  /**
   * A query sent in the request body is classified from its first bytes; at most this many are read before routing
   * (ClickHouse's own max_query_size is 256 KiB). The rest of the body (INSERT data) streams.
   */
  max_query_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Keep-alive connections per backend (undici pool). */
  backend_connections: z.number().int().min(1).max(10_000).default(64),
  /**
   * When the proxy cuts a request before its answer is complete (the client went away, or query_timeout_ms), send
   * `KILL QUERY WHERE query_id = … ASYNC` to the backend that ran it: 18.16 notices a closed HTTP connection only
   * when it writes, so a query that sends nothing (a long aggregation) would run on. Requests without a query_id
   * then get one from the proxy (a UUID), returned in X-ClickHouse-Query-Id.
   */
  kill_on_client_close: z.boolean().default(true),
  /** How long such a KILL QUERY may take (to answer, and to send its answer). */
  kill_timeout_ms: ms(1, 10_000),
});

export type HttpConfig = z.infer<typeof httpSchema>;
