/**
 * The HTTP frontend as `gatehouse serve` starts it from the `http:` section (issue 7); part of the composition root.
 */
import type { Logger } from 'pino';
import { parseHostPort, type GatehouseConfig } from './config';
import type { Proxy } from './frontend';
import { startHttpServer } from './http';
import type { Metrics } from './metrics';

/** A started HTTP frontend. */
export interface HttpFrontend {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; requests in flight finish (bounded by `timeoutMs`), then connections close. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Starts the HTTP listener when `http` is configured; null otherwise. Metrics come through the proxy's events
 * (proxy.deps.events), as for native queries; `deps` is kept for the caller's signature.
 */
export async function startHttpFrontend(cfg: GatehouseConfig, proxy: Proxy, deps: { metrics: Metrics; log: Logger }): Promise<HttpFrontend | null> {
  if (!cfg.http) return null;
  const listen = parseHostPort(cfg.http.listen, true);
  const server = await startHttpServer(proxy, {
    host: listen.host,
    port: listen.port,
    backendPorts: cfg.http.backend_ports,
    backendPort: cfg.http.backend_port,
    maxQueryBytes: cfg.http.max_query_bytes,
    backendConnections: cfg.http.backend_connections,
    connectTimeoutMs: cfg.pool.connect_timeout_ms,
  });
  deps.log.debug({ host: server.host, port: server.port }, 'http: listening');
  return server;
}
