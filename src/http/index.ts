/** The HTTP frontend (issue 7): ClickHouse's HTTP interface through the proxy's router, users and limits. */
import type { Proxy } from '../frontend';
import type { BackendTlsOptions } from '../pool';
import { BackendPools, type BackendPorts } from './backend-pools';
import { HttpFlights } from './cache-flight';
import type { HandlerContext } from './handler';
import { listenHttp, type HttpServer } from './server';

export type { HttpServer } from './server';
export type { BackendPorts } from './backend-pools';

/** What a reload can change on a running HTTP frontend (read per request). */
export interface HttpReloadableOptions {
  /** The backends' ports of the scheme in use: http_port, or https_port with backend TLS. */
  backendPorts: BackendPorts;
  /** Bytes of a body read at most to classify the query in it. */
  maxQueryBytes: number;
  /** KILL QUERY on the backend for a request the proxy cut (client gone, query_timeout_ms). */
  killOnClientClose: boolean;
  killTimeoutMs: number;
}

export interface HttpServerOptions extends HttpReloadableOptions {
  host: string;
  port: number;
  /** Keep-alive connections per backend. */
  backendConnections: number;
  connectTimeoutMs: number;
  /** backend_tls: HTTPS towards the backends, verified with these; null: plain HTTP. */
  backendTls: BackendTlsOptions | null;
}

/** A running HTTP frontend. */
export interface HttpFrontendServer extends HttpServer {
  /** Backends are reached over HTTPS. */
  readonly backendTls: boolean;
  /** Applies new reloadable options to the requests that start from now on. */
  reconfigure(o: HttpReloadableOptions): void;
}

/** Starts the HTTP listener in front of `proxy`'s backends; closing it also closes its backend pools. */
export async function startHttpServer(proxy: Proxy, o: HttpServerOptions): Promise<HttpFrontendServer> {
  const pools = new BackendPools({
    ports: o.backendPorts,
    connections: o.backendConnections,
    connectTimeoutMs: o.connectTimeoutMs,
    tls: o.backendTls,
    onTlsError: (address, reason) => proxy.deps.log('warn', 'http: TLS error on a backend connection after its handshake', { address, reason }),
  });
  const ctx: HandlerContext = {
    deps: proxy.deps, pools, maxQueryBytes: o.maxQueryBytes, killOnClientClose: o.killOnClientClose, killTimeoutMs: o.killTimeoutMs,
    flights: new HttpFlights(),
  };
  try {
    const server = await listenHttp(o.host, o.port, ctx, () => {
      ctx.flights.close(); // background refreshes have no client whose leaving would end them
      return pools.close();
    });
    return {
      host: server.host,
      port: server.port,
      backendTls: pools.secure,
      close: (timeoutMs) => server.close(timeoutMs),
      reconfigure(next) {
        pools.reconfigure(next.backendPorts);
        ctx.maxQueryBytes = next.maxQueryBytes;
        ctx.killOnClientClose = next.killOnClientClose;
        ctx.killTimeoutMs = next.killTimeoutMs;
      },
    };
  } catch (e) {
    await pools.close();
    throw e;
  }
}
