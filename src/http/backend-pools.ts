/**
 * Keep-alive connection pools to the backends' HTTP ports, one undici Pool per origin (http.backend_connections
 * each). Backend TLS (backend_tls) is not applied on this side: backends are reached over plain HTTP on their
 * http_port (see docs/http.md).
 */
import { Pool } from 'undici';
import type { BackendTarget } from '../pool';

export interface BackendPoolOptions {
  /** The backend's HTTP port by backend name; absent: `defaultPort`. */
  ports: Readonly<Record<string, number>>;
  defaultPort: number;
  connections: number;
  /** How long to wait for a TCP connection (the pool's connect_timeout_ms). */
  connectTimeoutMs: number;
}

export class BackendPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly o: BackendPoolOptions) {}

  /** The origin a backend's HTTP interface answers on. */
  origin(target: BackendTarget): string {
    const port = this.o.ports[target.name] ?? this.o.defaultPort;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    return `http://${host}:${port}`;
  }

  pool(target: BackendTarget): Pool {
    const origin = this.origin(target);
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.o.connections,
        connectTimeout: this.o.connectTimeoutMs,
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
