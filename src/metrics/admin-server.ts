/**
 * The admin HTTP server: `GET /health`, `GET /ready`, `GET /metrics`, `GET /status` and `POST /reload`. Nothing else
 * is served. Bodies never carry what the callbacks threw (an error message may quote a config line or a Redis URL).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readiness } from './readiness';
import type { Metrics } from './registry';

/**
 * What a reload answers: applied (with the changed keys that need a restart to take effect), or refused with the
 * reasons (the old config stays). Answered as JSON as it is.
 */
export type ReloadResult =
  | { readonly ok: true; readonly notApplied?: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[] };

/** Where to listen and what to report. */
export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port (see AdminServer.port). */
  readonly port: number;
  readonly metrics: Metrics;
  /** The /metrics text when it is not `metrics.render()` (the primary of several workers aggregates theirs). */
  readonly render?: () => Promise<string>;
  /**
   * `GET /ready` answers 200 while this says ready, 503 with the JSON list of what is missing otherwise (see
   * backendReadiness). A bare `false` is reported as "not ready".
   */
  readonly isReady: () => Readiness | boolean;
  /** `GET /health` answers 200 while this is true (default: always, i.e. while the process serves), 503 otherwise (draining). */
  readonly isServing?: () => boolean;
  /**
   * `GET /status` answers this value as JSON (a promise is awaited; Maps become objects, Sets arrays,
   * bigints strings). Without it, /status is 404.
   */
  readonly status?: () => unknown;
  /** `POST /reload` runs this: 200 when applied, 400 with the errors when refused. Without it, /reload is 404. */
  readonly reload?: () => Promise<ReloadResult>;
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

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

function handle(opts: AdminServerOptions, req: IncomingMessage, res: ServerResponse): void {
  // No route reads a body; consuming it keeps a keep-alive connection usable after a POST with one.
  req.resume();
  const path = new URL(req.url ?? '/', 'http://admin').pathname;
  const get = req.method === 'GET';
  if (get && path === '/health') {
    const serving = check(() => opts.isServing?.() ?? true);
    reply(res, serving ? 200 : 503, TEXT, serving ? 'ok' : 'not serving');
  } else if (get && path === '/ready') {
    const r = readiness(opts);
    replyJson(res, r.ready ? 200 : 503, r);
  } else if (get && path === '/metrics') {
    (opts.render ?? (() => opts.metrics.render()))().then(
      (text) => reply(res, 200, opts.metrics.contentType, text),
      (err: unknown) => reply(res, 500, TEXT, `metrics failed: ${String(err)}\n`),
    );
  } else if (get && path === '/status' && opts.status !== undefined) {
    const status = opts.status;
    // A throwing or rejecting status(), or a value JSON cannot write (a cycle), is a 500, never a crash.
    new Promise<unknown>((resolve) => resolve(status()))
      .then((value) => `${JSON.stringify(value, jsonReplacer, 2) ?? 'null'}\n`)
      .then(
        (body) => reply(res, 200, JSON_TYPE, body),
        (err: unknown) => reply(res, 500, TEXT, `status failed: ${String(err)}\n`),
      );
  } else if (path === '/reload' && opts.reload !== undefined) {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      reply(res, 405, TEXT, 'method not allowed: POST /reload');
      return;
    }
    runReload(opts.reload).then((r) => replyJson(res, r.ok ? 200 : r.status, r.body));
  } else {
    reply(res, 404, TEXT, 'not found');
  }
}

/** A throwing check answers "no", never crashes the admin server. */
function check(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

function readiness(opts: AdminServerOptions): Readiness {
  let r: Readiness | boolean;
  try {
    r = opts.isReady();
  } catch {
    return { ready: false, notReady: ['readiness check failed'] };
  }
  if (r === true) return { ready: true };
  if (r === false) return { ready: false, notReady: ['not ready'] };
  return r;
}

type ReloadReply = { ok: true; body: ReloadResult } | { ok: false; status: 400 | 500; body: ReloadResult };

async function runReload(reload: () => Promise<ReloadResult>): Promise<ReloadReply> {
  let r: ReloadResult;
  try {
    r = await reload();
  } catch {
    // A refusal comes back as { ok: false }; a throw is the proxy's own failure, and its message is not for HTTP.
    return { ok: false, status: 500, body: { ok: false, errors: ['reload failed: internal error'] } };
  }
  return r.ok ? { ok: true, body: r } : { ok: false, status: 400, body: { ok: false, errors: [...r.errors] } };
}

/** JSON.stringify cannot write Map, Set or bigint; status objects may well hold them. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function replyJson(res: ServerResponse, status: number, value: unknown): void {
  reply(res, status, JSON_TYPE, `${JSON.stringify(value)}\n`);
}

function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(body);
}
