/**
 * The HTTP frontend as `gatehouse serve` starts it from the `http:` section (issue 7), and what a reload changes on
 * it; part of the composition root.
 */
import type { Logger } from 'pino';
import { parseHostPort, type GatehouseConfig } from './config';
import type { Proxy } from './frontend';
import { startHttpServer, type HttpReloadableOptions } from './http';
import type { Metrics } from './metrics';

/** A started HTTP frontend. */
export interface HttpFrontend {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; requests in flight finish (bounded by `timeoutMs`), then connections close. */
  close(timeoutMs?: number): Promise<void>;
  /** Backends are reached over HTTPS (backend_tls at start). */
  readonly backendTls: boolean;
  /** Applies reloadable options to the next requests. */
  reconfigure(o: HttpReloadableOptions): void;
}

/** `http` keys a reload applies: backend ports (backends themselves are reloadable), body head size, kill settings. */
const RELOADABLE_HTTP_KEYS = [
  'backend_port', 'backend_ports', 'backend_https_port', 'backend_https_ports', 'max_query_bytes', 'kill_on_client_close', 'kill_timeout_ms',
] as const;

type HttpSection = NonNullable<GatehouseConfig['http']>;

/** The reloadable options of an `http` section, for backends reached over HTTPS (`tls`) or plain HTTP. */
function reloadableOf(h: HttpSection, tls: boolean): HttpReloadableOptions {
  const backendPorts = tls ? { ports: h.backend_https_ports, defaultPort: h.backend_https_port } : { ports: h.backend_ports, defaultPort: h.backend_port };
  return { backendPorts, maxQueryBytes: h.max_query_bytes, killOnClientClose: h.kill_on_client_close, killTimeoutMs: h.kill_timeout_ms };
}

/**
 * Starts the HTTP listener when `http` is configured; null otherwise. Metrics come through the proxy's events
 * (proxy.deps.events), as for native queries; `deps` is kept for the caller's signature. Backend TLS is the proxy's
 * (`backend_tls`, its PEM files read and checked once at start by serve-tls.ts).
 */
export async function startHttpFrontend(cfg: GatehouseConfig, proxy: Proxy, deps: { metrics: Metrics; log: Logger }): Promise<HttpFrontend | null> {
  if (!cfg.http) return null;
  const listen = parseHostPort(cfg.http.listen, true);
  const server = await startHttpServer(proxy, {
    host: listen.host,
    port: listen.port,
    ...reloadableOf(cfg.http, proxy.backendTls !== null),
    backendConnections: cfg.http.backend_connections,
    connectTimeoutMs: cfg.pool.connect_timeout_ms,
    backendTls: proxy.backendTls,
  });
  deps.log.debug({ host: server.host, port: server.port, tls: proxy.backendTls !== null }, 'http: listening');
  return server;
}

/**
 * Applies a reload to the HTTP frontend; returns the `http` keys that need a restart (`http` itself when the section
 * was added or removed), as serve-config's keysNeedingRestart does for the top-level keys.
 */
export function reloadHttpFrontend(http: HttpFrontend | null, before: GatehouseConfig, after: GatehouseConfig): string[] {
  if (!before.http || !after.http) return JSON.stringify(before.http) === JSON.stringify(after.http) ? [] : ['http'];
  // backend_tls is a restart key: the running frontend keeps its scheme, and takes that scheme's ports.
  if (http) http.reconfigure(reloadableOf(after.http, http.backendTls));
  const fixed = (h: HttpSection): Record<string, unknown> => {
    const rest: Record<string, unknown> = { ...h };
    for (const k of RELOADABLE_HTTP_KEYS) delete rest[k];
    return rest;
  };
  const a = fixed(before.http);
  const b = fixed(after.http);
  return Object.keys({ ...a, ...b })
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `http.${k}`);
}
