/**
 * Keep-alive connection pools to the backends' HTTP interfaces, one undici Pool per origin (http.backend_connections
 * each). With backend_tls, origins are `https://` on the backends' https_port and certificates are checked as on the
 * native side (CA, client certificate, server name, insecure_skip_verify); without it, plain HTTP on their http_port.
 * The ports follow a reload (`reconfigure`); TLS is fixed at start (backend_tls is a restart key).
 */
import * as net from 'node:net';
import { buildConnector, Pool } from 'undici';
import { secureContextFor, tlsFailure, type BackendTarget, type BackendTlsOptions } from '../pool';

/** The backends' ports of one scheme: by backend name, else the default. */
export interface BackendPorts {
  ports: Readonly<Record<string, number>>;
  defaultPort: number;
}

export interface BackendPoolOptions {
  /** Ports of the scheme in use: http_port without TLS, https_port with it. */
  ports: BackendPorts;
  connections: number;
  /** How long to wait for a TCP connection, TLS handshake included (the pool's connect_timeout_ms). */
  connectTimeoutMs: number;
  /** backend_tls: `https://` origins verified with these; null: plain HTTP. */
  tls: BackendTlsOptions | null;
  /**
   * A TLS error on a backend connection after its handshake (e.g. TLS 1.3's "certificate required" alert when the
   * backend refuses the proxy's client certificate). undici reports such a request as UND_ERR_SOCKET ("other side
   * closed") only: this says why, for the log.
   */
  onTlsError?: (address: string, reason: string) => void;
}

/** A backend's TLS handshake failed (bad certificate, wrong name, a plain port): the message says why. */
export class BackendTlsError extends Error {
  readonly code = 'ERR_BACKEND_TLS';
  constructor(cause: NodeJS.ErrnoException) {
    super(`TLS handshake failed: ${tlsFailure(cause)}`, { cause });
  }
}

export class BackendPools {
  private readonly pools = new Map<string, Pool>();
  private ports: BackendPorts;
  private readonly connector: buildConnector.connector | null;

  constructor(private readonly o: BackendPoolOptions) {
    this.ports = o.ports;
    this.connector = o.tls ? tlsConnector(o.tls, o.connectTimeoutMs, o.onTlsError ?? (() => undefined)) : null;
  }

  /** Whether backends are reached over HTTPS. */
  get secure(): boolean {
    return this.connector !== null;
  }

  /**
   * New ports for the next requests (a reload). A pool of an origin no longer used stays until close(), without
   * connections once the backend's keep-alive timeout has passed.
   */
  reconfigure(ports: BackendPorts): void {
    this.ports = ports;
  }

  /** The origin a backend's HTTP interface answers on. */
  origin(target: BackendTarget): string {
    const port = this.ports.ports[target.name] ?? this.ports.defaultPort;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    return `${this.connector ? 'https' : 'http'}://${host}:${port}`;
  }

  pool(target: BackendTarget): Pool {
    const origin = this.origin(target);
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.o.connections,
        connectTimeout: this.o.connectTimeoutMs,
        ...(this.connector ? { connect: this.connector } : {}),
        // A query may run for long before its first byte: no undici deadline (the user's query_timeout_ms applies).
        headersTimeout: 0,
        bodyTimeout: 0,
        // ClickHouse closes idle keep-alive connections after keep_alive_timeout (3 s by default) and says so in its
        // Keep-Alive header, which undici follows; this only caps it.
        keepAliveMaxTimeout: 60_000,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => p.destroy())));
  }
}

/**
 * undici's connector with backend_tls's settings (the native pool's cached secure context: the CA bundle and key are
 * parsed once). A failure
 * after the TCP connection was up and before the handshake finished becomes a BackendTlsError, so that the client
 * reads "TLS handshake failed: …" as on the native port, not a bare OpenSSL code.
 */
function tlsConnector(o: BackendTlsOptions, timeoutMs: number, onTlsError: (address: string, reason: string) => void): buildConnector.connector {
  const base = buildConnector({
    secureContext: secureContextFor(o),
    rejectUnauthorized: o.rejectUnauthorized,
    timeout: timeoutMs,
  });
  return (options, callback) => {
    // As on the native side: server_name replaces the host for SNI and the certificate check; without it, an IP
    // address is checked against the IP SANs and sent no SNI (RFC 6066 §3), which undici already does.
    let tcpUp = false;
    const socket = base(o.servername !== undefined ? { ...options, servername: o.servername } : options, (err, s) => {
      // undici's own errors (the connect timeout, which also bounds the handshake) keep their code.
      const handshake = tcpUp && !(err as NodeJS.ErrnoException | null)?.code?.startsWith('UND_ERR_');
      if (err) return callback(handshake ? new BackendTlsError(err as NodeJS.ErrnoException) : err, null);
      s!.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code?.startsWith('ERR_SSL_')) onTlsError(`${options.hostname}:${options.port}`, tlsFailure(e));
      });
      callback(null, s!);
    }) as unknown as net.Socket | undefined;
    // buildConnector returns the socket (its type says void): 'connect' is the TCP connection, before the handshake.
    socket?.once('connect', () => (tcpUp = true));
  };
}
