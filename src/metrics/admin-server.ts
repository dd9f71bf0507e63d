/** The admin HTTP server: `GET /health`, `GET /metrics` and `GET /status`. Nothing else is served. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './registry';

/** Where to listen and what to report. */
export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port (see AdminServer.port). */
  readonly port: number;
  readonly metrics: Metrics;
  /** /health answers 200 while this is true, 503 otherwise (starting up, draining). */
  readonly isReady: () => boolean;
  /**
   * `GET /status` answers this value as JSON (a promise is awaited; Maps become objects, Sets arrays,
   * bigints strings). Without it, /status is 404.
   */
  readonly status?: () => unknown;
}

/** A started admin server. */
export interface AdminServer {
  /** The port actually bound. */
  readonly port: number;
  /** Stops listening and closes open (keep-alive) connections; idempotent. */
  close(): Promise<void>;
}

/** Starts the admin server; rejects if it cannot listen (e.g. EADDRINUSE). */
export function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const server = createServer((req, res) => handle(opts, req, res));
  return new Promise<AdminServer>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      let closed: Promise<void> | undefined;
      resolve({
        port: (server.address() as AddressInfo).port,
        close(): Promise<void> {
          closed ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closed;
        },
      });
    });
  });
}

function handle(opts: AdminServerOptions, req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://admin').pathname;
  if (req.method === 'GET' && path === '/health') {
    let ready = false;
    try {
      ready = opts.isReady();
    } catch {
      ready = false; // a failing readiness check means not ready, never a crashed admin server
    }
    reply(res, ready ? 200 : 503, 'text/plain; charset=utf-8', ready ? 'ok' : 'not ready');
  } else if (req.method === 'GET' && path === '/metrics') {
    opts.metrics.render().then(
      (text) => reply(res, 200, opts.metrics.contentType, text),
      (err: unknown) => reply(res, 500, 'text/plain; charset=utf-8', `metrics failed: ${String(err)}\n`),
    );
  } else if (req.method === 'GET' && path === '/status' && opts.status !== undefined) {
    const status = opts.status;
    // A throwing or rejecting status(), or a value JSON cannot write (a cycle), is a 500, never a crash.
    new Promise<unknown>((resolve) => resolve(status()))
      .then((value) => `${JSON.stringify(value, jsonReplacer, 2) ?? 'null'}\n`)
      .then(
        (body) => reply(res, 200, 'application/json; charset=utf-8', body),
        (err: unknown) => reply(res, 500, 'text/plain; charset=utf-8', `status failed: ${String(err)}\n`),
      );
  } else {
    reply(res, 404, 'text/plain; charset=utf-8', 'not found');
  }
}

/** JSON.stringify cannot write Map, Set or bigint; status objects may well hold them. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(body);
}
