/** The HTTP frontend (issue 7): ClickHouse's HTTP interface through the proxy's router, users and limits. */
import type { Proxy } from '../frontend';
import { BackendPools } from './backend-pools';
import { listenHttp, type HttpServer } from './server';

export type { HttpServer } from './server';

export interface HttpServerOptions {
  host: string;
  port: number;
  /** The backends' HTTP port by backend name, and the port of those without an entry. */
  backendPorts: Readonly<Record<string, number>>;
  backendPort: number;
  /** Bytes of a body read at most to classify the query in it. */
  maxQueryBytes: number;
  /** Keep-alive connections per backend. */
  backendConnections: number;
  connectTimeoutMs: number;
}

/** Starts the HTTP listener in front of `proxy`'s backends; closing it also closes its backend pools. */
export async function startHttpServer(proxy: Proxy, o: HttpServerOptions): Promise<HttpServer> {
  const pools = new BackendPools({ ports: o.backendPorts, defaultPort: o.backendPort, connections: o.backendConnections, connectTimeoutMs: o.connectTimeoutMs });
  try {
    return await listenHttp(o.host, o.port, { deps: proxy.deps, pools, maxQueryBytes: o.maxQueryBytes }, () => pools.close());
  } catch (e) {
    await pools.close();
    throw e;
  }
}
