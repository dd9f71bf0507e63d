import type { Limits } from '../protocol';

/** Plain data of backend connections: targets, identities, the server's Hello, connect options. */

/** A backend server as configured; `name` labels it in errors and metrics ('writer', 'reader1'). */
export interface BackendTarget {
  name: string;
  host: string;
  port: number;
}

/** The account the proxy logs in with. The password never appears in messages or keys. */
export interface BackendIdentity {
  user: string;
  password: string;
}

/** What the backend said about itself in its Hello (presented to clients as the proxy's own). */
export interface ServerInfo {
  serverName: string;
  versionMajor: number;
  versionMinor: number;
  versionPatch: number;
  /** The server's own revision (not the negotiated one). */
  revision: number;
  timezone: string;
  displayName: string;
}

export interface BackendConnectOptions {
  target: BackendTarget;
  identity: BackendIdentity;
  database: string;
  /** The revision announced in our Hello: the client's negotiated revision, so both legs speak the same. */
  revision: number;
  /** Client name in our Hello. Default 'Gatehouse'. */
  clientName?: string;
  /** Bound on TCP connect plus handshake. */
  connectTimeoutMs: number;
  /**
   * While the server owes an answer (a query or request is open, the proxy is reading, and the client is not the one
   * the server waits for), nothing at all arriving for this long fails the connection with 209 (pool.receive_timeout_ms).
   * 0 or absent: no limit.
   */
  receiveTimeoutMs?: number;
  limits?: Limits;
  /** Verify compressed-frame checksums of what the backend sends (the client verifies them anyway). */
  verifyChecksums?: boolean;
  /** Connect with TLS (the backend's tcp_port_secure); absent or null: plain TCP. */
  tls?: BackendTlsOptions | null;
}

/**
 * TLS towards a backend. PEM contents, not file names (read once at start-up). Certificates are verified against
 * `ca` (default: Node's bundled CAs) and the backend's host (or `servername`) unless `rejectUnauthorized` is false.
 */
export interface BackendTlsOptions {
  ca?: Buffer | string;
  /** Client certificate and key, for backends that ask for one. */
  cert?: Buffer | string;
  key?: Buffer | string;
  /** Name sent as SNI and checked against the certificate instead of the target's host. */
  servername?: string;
  /** false: accept any certificate (insecure_skip_verify). */
  rejectUnauthorized: boolean;
}

/** Version of Gatehouse sent in the Hello's major/minor fields (package.json 0.1.x). */
export const GATEHOUSE_VERSION = { major: 0, minor: 1 } as const;

/** "writer (127.0.0.1:9000) as gh_writer": how errors name a backend and account. */
export function backendLabel(target: BackendTarget, identity: BackendIdentity): string {
  return `${target.name} (${target.host}:${target.port}) as ${identity.user}`;
}
