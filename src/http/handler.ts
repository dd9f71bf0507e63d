/**
 * One HTTP request to ClickHouse's `/` handler, through the proxy: login, classification of the statement head,
 * planning, the user's query limits, a backend by route, then the request and the response streamed through
 * (piped: backpressure both ways, nothing held whole). A client that goes away aborts the backend request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ProxyErrorCode, replyError, toReplyError } from '../frontend/error-reply';
import { isLimitRefusal } from '../frontend/user-limits';
import type { QueryInfo, SessionDeps } from '../frontend/session-types';
import type { Route } from '../frontend/targets';
import type { BackendTarget } from '../pool';
import { bodyWithHead, readBodyHead, type BodyHead } from './body-head';
import type { BackendPools } from './backend-pools';
import { sendError } from './errors';
import { httpLogin } from './login';
import { outboundRequest, responseHeaders } from './outbound';
import { planHttpQuery } from './plan';
import { parseRequest, type HttpQueryRequest } from './request';
import { HttpRecorder, httpCacheRead, replyFromCache, wholeSql } from './cache';
import { writtenTables } from '../frontend/cache-policy';

export interface HandlerContext {
  /** The proxy's current settings and collaborators (a reload replaces its fields; read them per request). */
  deps: SessionDeps;
  pools: BackendPools;
  maxQueryBytes: number;
}

/** What a query's outcome is counted as. */
type Outcome = { origin: 'backend' | 'proxy'; code: number } | undefined;

const seconds = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e9;

export async function handleRequest(req: IncomingMessage, res: ServerResponse, ctx: HandlerContext): Promise<void> {
  const pathname = new URL(req.url ?? '/', 'http://gatehouse').pathname;
  if (pathname === '/ping') return answerOk(res, false);
  const r = parseRequest(req);
  // 18.16 answers a GET of / without a query as a health check.
  if (pathname === '/' && r.method === 'GET' && r.urlQuery === '') return answerOk(res, true);
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  try {
    await runQuery(req, res, r, pathname, ctx, abort);
  } catch (e) {
    if (!abort.signal.aborted) sendError(res, e);
  }
}

function answerOk(res: ServerResponse, html: boolean): void {
  res.writeHead(200, html ? { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': 4 } : { 'Content-Length': 4 });
  res.end('Ok.\n');
}

async function runQuery(req: IncomingMessage, res: ServerResponse, r: HttpQueryRequest, pathname: string, ctx: HandlerContext, abort: AbortController): Promise<void> {
  const { deps } = ctx;
  const address = req.socket.remoteAddress ?? '';
  const login = httpLogin(r.credentials, deps, address);
  if ('chCode' in login) {
    sendError(res, login);
    return;
  }
  // The statement's head: from the URL, or the first bytes of a readable body.
  let head: BodyHead | null = null;
  let sql: string | null = r.urlQuery;
  if (r.urlQuery === '' && r.method === 'POST') {
    if (r.bodyCompressed) sql = null;
    else {
      head = await readBodyHead(req, ctx.maxQueryBytes);
      sql = head.head.toString('utf8');
    }
  }
  const userName = login.user?.name ?? r.credentials.user;
  const database = r.database || login.user?.database || '';
  const plan = planHttpQuery({
    sql, user: login.user, userName, database, rules: deps.config.routing.rules, params: r.params, sessionId: r.sessionId, queryId: r.queryId,
  });
  const info: QueryInfo = { user: userName, kind: 'cls' in plan ? plan.cls.kind : 'unknown', queryId: r.queryId };
  const started = process.hrtime.bigint();
  if ('refuse' in plan) {
    deps.events.query('local', info.kind, info);
    const e = sendError(res, plan.refuse);
    deps.events.queryDone('local', seconds(started), { origin: 'proxy', code: e.chCode }, info);
    return;
  }
  // The result cache: a hit is answered here; a miss records the response for the next one.
  let cacheRead = httpCacheRead({
    cfg: deps.cache,
    plan,
    wholeSql: wholeSql(req, r.method, r.urlQuery, head),
    forced: plan.forced,
    sessionId: r.sessionId,
    userName,
    database,
    backendUser: login.user ? deps.router.identity('reader', r.credentials, login.user).user : r.credentials.user,
    params: r.params,
    acceptEncoding: String(req.headers['accept-encoding'] ?? ''),
  });
  if (cacheRead) {
    const cache = cacheRead.cfg.cache;
    const got = await cache.get(cacheRead.key);
    if (got !== null && 'bypass' in got) {
      cache.events.bypass(got.bypass);
      cacheRead = null;
    } else if (got !== null) {
      cache.events.hit();
      deps.events.query('local', info.kind, info);
      const n = replyFromCache(res, got, r.queryId);
      deps.events.bytes(n, 0);
      deps.events.queryDone('local', seconds(started), undefined, info);
      return;
    } else cache.events.miss();
  }
  const mark = cacheRead ? await cacheRead.cfg.cache.markFor(cacheRead.plan.tables) : null;
  if (cacheRead && mark === null) cacheRead = null;
  const recorder = cacheRead ? new HttpRecorder(cacheRead.cfg.cache.maxEntryBytes) : null;
  // A write's response ends only after the cache entries of what it wrote are invalidated (as on the native port).
  const invalidating = deps.cache && (plan.cls.kind === 'write' || plan.cls.kind === 'unknown') ? deps.cache.cache : null;
  deps.events.query(plan.route, info.kind, info);
  let outcome: Outcome;
  let release: (() => void) | null = null;
  let toClient = 0;
  let toBackend = 0;
  try {
    if (login.limiter) {
      const a = await login.limiter.admit(abort.signal);
      if (isLimitRefusal(a)) throw replyError(a.chCode, a.message);
      release = a;
    }
    // Replayable (a read may then try another reader): no body, or a body read whole as its head.
    const replayable = r.method === 'GET' || (head !== null && head.ended);
    const body: Dispatcher.DispatchOptions['body'] =
      r.method === 'GET' ? undefined : replayable ? head!.head : Readable.from(counted(head ? bodyWithHead(head, req) : req, (n) => (toBackend += n)), { objectMode: false });
    if (replayable && head) toBackend = head.head.length;
    const timeoutMs = login.user?.queryTimeoutMs ?? 0;
    let timedOut = false;
    const timer = timeoutMs > 0 ? setTimeout(() => ((timedOut = true), abort.abort()), timeoutMs) : null;
    try {
      const sent = await send(ctx, plan.route, plan.group, replayable, abort.signal, (target, route) => {
        const identity = login.user ? deps.router.identity(route, r.credentials, login.user) : null;
        const out = outboundRequest({ pathname, params: r.params, headers: req.headers, identity, injected: plan.injected, defaultDatabase: r.database ? '' : login.user?.database ?? '' });
        return { method: r.method, path: out.path, headers: out.headers, body, signal: abort.signal };
      });
      try {
        const { statusCode, body: answer } = sent.response;
        const headers = responseHeaders(sent.response.headers);
        if (statusCode >= 400) {
          // An error's code, for metrics and for clients: 18.16 puts it in the body only, so the head of the body
          // (one small chunk) is read before the headers go out, and X-ClickHouse-Exception-Code added.
          let code = exceptionCode(sent.response.headers);
          const first = code === null ? await firstChunk(answer) : null;
          if (first) code = bodyExceptionCode(first);
          if (code !== null) headers['x-clickhouse-exception-code'] = String(code);
          outcome = { origin: 'backend', code: code ?? 0 };
          res.writeHead(statusCode, headers);
          if (first) {
            toClient += first.length;
            res.write(first);
          }
        } else {
          if (recorder && statusCode === 200) headers['x-cache'] = 'MISS';
          res.writeHead(statusCode, headers);
        }
        answer.on('data', (chunk: Buffer) => {
          toClient += chunk.length;
          recorder?.add(chunk);
        });
        if (invalidating) {
          await relay(answer, res, false);
          await invalidating.invalidate(writtenTables(sql ?? '', database));
          res.end();
        } else await relay(answer, res, true);
        if (cacheRead && recorder && mark && statusCode === 200) {
          const entry = recorder.finish(sent.response.headers, cacheRead.plan.tables, cacheRead.plan.ttlMs);
          if (entry) cacheRead.cfg.cache.put(cacheRead.key, entry, mark);
          else if (recorder.overCap) cacheRead.cfg.cache.events.bypass('too_large');
        }
      } finally {
        sent.done();
      }
    } catch (e) {
      if (timedOut) {
        const err = replyError(ProxyErrorCode.TIMEOUT_EXCEEDED, `query exceeded the user's query_timeout_ms (${timeoutMs} ms) and was cancelled`);
        outcome = { origin: 'proxy', code: err.chCode };
        sendError(res, err);
        return;
      }
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
    }
  } catch (e) {
    if (abort.signal.aborted) {
      // The client went away; nobody to answer. Counted as the native port counts a vanished client.
      outcome ??= { origin: 'proxy', code: ProxyErrorCode.NETWORK_ERROR };
      return;
    }
    const err = toReplyError(e);
    outcome = { origin: 'proxy', code: err.chCode };
    sendError(res, e);
  } finally {
    release?.();
    deps.events.bytes(toClient, toBackend);
    deps.events.queryDone(plan.route, seconds(started), outcome, info);
  }
}

interface Sent {
  response: Dispatcher.ResponseData;
  /** The balancer's outstanding count for the backend goes down. */
  done(): void;
}

/**
 * Sends the request to a backend of the route. A backend that cannot be reached is reported to health checks; a read
 * whose body can be sent again then tries another reader (routing.retries), as on the native port.
 */
async function send(
  ctx: HandlerContext,
  route: Route,
  group: string,
  replayable: boolean,
  signal: AbortSignal,
  build: (target: BackendTarget, route: Route) => Dispatcher.RequestOptions,
): Promise<Sent> {
  const { router, health } = ctx.deps;
  const tried = new Set<string>();
  let retriesLeft = route === 'reader' && replayable ? ctx.deps.config.routing.retries : 0;
  for (;;) {
    const pick = router.pick(route, group, route === 'reader' ? tried : undefined);
    if ('chCode' in pick) throw pick;
    tried.add(pick.target.name);
    router.acquire(group, pick.target);
    try {
      const response = await ctx.pools.pool(pick.target).request(build(pick.target, pick.route));
      health?.reportSuccess(pick.target);
      return { response, done: () => router.release(group, pick.target) };
    } catch (e) {
      router.release(group, pick.target);
      if (signal.aborted) throw e;
      const why = (e as { code?: string }).code ?? (e instanceof Error ? e.name : 'error');
      // The cause's code only: undici's messages may carry the URL.
      health?.reportFailure(pick.target, `HTTP request failed: ${why}`);
      if (retriesLeft-- > 0) continue;
      throw replyError(ProxyErrorCode.NETWORK_ERROR, `backend ${pick.target.name} (HTTP) failed: ${why}`);
    }
  }
}

/**
 * The backend's answer into the client's response with backpressure (pipe: pauses the answer while `res` is full).
 * Not stream.pipeline: that makes an AbortController and a DOMException per request, a measurable share of a small
 * query's cost here (benchmarks/RESULTS.md, HTTP). `end: false` leaves `res` open for the caller (a write ends it only
 * after its cache invalidation). Rejects when either side fails or the client goes away first.
 */
function relay(src: Readable, res: ServerResponse, end: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      src.off('end', onEnd);
      src.off('error', onError);
      res.off('error', onError);
      res.off('close', onClose);
      if (err) {
        src.unpipe(res);
        src.destroy();
        reject(err);
      } else resolve();
    };
    const onEnd = (): void => settle();
    const onError = (e: Error): void => settle(e);
    const onClose = (): void => settle(new Error('the client closed the connection'));
    src.once('end', onEnd);
    src.once('error', onError);
    res.once('error', onError);
    res.once('close', onClose);
    src.pipe(res, { end });
  });
}

/** A body stream that counts what passes, as the backend pulls it. */
async function* counted(body: AsyncIterable<Buffer>, count: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    count(chunk.length);
    yield chunk;
  }
}

/** X-ClickHouse-Exception-Code, which servers from 19.x send (18.16 does not). */
function exceptionCode(headers: Record<string, string | string[] | undefined>): number | null {
  const v = headers['x-clickhouse-exception-code'];
  const n = Number(Array.isArray(v) ? v[0] : v);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** The code at the start of an error body (`Code: 60, e.displayText() = …`). */
function bodyExceptionCode(chunk: Buffer): number | null {
  const m = /^Code: (\d+)/.exec(chunk.subarray(0, 32).toString('latin1'));
  return m ? Number(m[1]) : null;
}

/** The first chunk of a stream (null at its end), leaving the stream paused for a pipeline to take over. */
function firstChunk(body: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer): void => {
      body.pause();
      done();
      resolve(c);
    };
    const onEnd = (): void => {
      done();
      resolve(null);
    };
    const onError = (e: Error): void => {
      done();
      reject(e);
    };
    const done = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
  });
}
