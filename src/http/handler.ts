/**
 * One HTTP request to ClickHouse's `/` handler, through the proxy: login, classification of the statement head,
 * planning, the result cache for cacheable reads (cache-flight.ts), the user's query limits, a backend by route, then
 * the request and the response streamed through (backpressure both ways, nothing held whole). A client that goes away
 * aborts the backend request.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ProxyErrorCode, replyError, toReplyError } from '../frontend/error-reply';
import { isLimitRefusal, type Release } from '../frontend/user-limits';
import { seconds, type QueryError, type QueryInfo, type SessionDeps } from '../frontend/session-types';
import { DEFAULT_CLIENT_RECEIVE_TIMEOUT_MS } from '../frontend/client-timeouts';
import { isPlain, readDecodedHead } from './body-decode';
import { watchBodyReceive } from './body-timeout';
import { bodyWithHead, readBodyHead, type BodyHead } from './body-head';
import type { BackendPools } from './backend-pools';
import { send } from './backend-send';
import { serveCacheable, type BackendCall, type HttpFlights } from './cache-flight';
import { sendError } from './errors';
import { httpLogin } from './login';
import { outboundRequest } from './outbound';
import { RequestAbort } from './request-abort';
import { killInBackground, killTag } from './query-kill';
import { planHttpQuery } from './plan';
import { parseRequest, type HttpQueryRequest } from './request';
import { HttpRecorder, heldBody, httpCacheRead, wholeSql, type BodySql } from './cache';
import { writtenTables } from '../frontend/cache-policy';

export interface HandlerContext {
  /** The proxy's current settings and collaborators (a reload replaces its fields; read them per request). */
  deps: SessionDeps;
  pools: BackendPools;
  maxQueryBytes: number;
  /** KILL QUERY on the backend when the proxy cuts a request whose query may still run there (query-kill.ts). */
  killOnClientClose: boolean;
  killTimeoutMs: number;
  /** The result cache's shared runs in progress on this port, by key (single-flight, refreshes). */
  flights: HttpFlights;
}

/** What a query's outcome is counted as. */
type Outcome = QueryError | undefined;

export async function handleRequest(req: IncomingMessage, res: ServerResponse, ctx: HandlerContext): Promise<void> {
  const r = parseRequest(req);
  if (r.pathname === '/ping') return answerOk(res, false);
  // 18.16 answers a GET of / without a query as a health check.
  if (r.pathname === '/' && r.method === 'GET' && r.urlQuery === '') return answerOk(res, true);
  try {
    await runQuery(req, res, r, ctx);
  } catch (e) {
    // Failures before the backend exchange (reading the body head, the cache store); none to answer if the client left.
    if (!req.socket.destroyed) sendError(res, e);
  }
}

function answerOk(res: ServerResponse, html: boolean): void {
  res.writeHead(200, html ? { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': 4 } : { 'Content-Length': 4 });
  res.end('Ok.\n');
}

async function runQuery(req: IncomingMessage, res: ServerResponse, r: HttpQueryRequest, ctx: HandlerContext): Promise<void> {
  const { deps } = ctx;
  const address = req.socket.remoteAddress ?? '';
  const login = httpLogin(r.credentials, deps, address);
  if ('chCode' in login) {
    sendError(res, login);
    return;
  }
  const receiveTimeoutMs = deps.config.clientReceiveTimeoutMs ?? DEFAULT_CLIENT_RECEIVE_TIMEOUT_MS;
  watchBodyReceive(req, res, receiveTimeoutMs, () => {
    deps.log('info', 'http: closing a client that stopped in the middle of its request body', { remote: address, ms: receiveTimeoutMs });
    // As a client that left: its backend request (if any) is aborted, and its query killed.
    req.socket.destroy();
  });
  // The statement's head: from the URL, or the first bytes of the body (decoded when it is compressed). `head` holds
  // the body bytes read, as they came; `bodySql` the statement read from them.
  let head: BodyHead | null = null;
  let sql: string | null = r.urlQuery;
  let bodySql: BodySql | null = null;
  if (r.urlQuery === '' && r.method === 'POST') {
    if (isPlain(r.bodyEncoding)) {
      head = await readBodyHead(req, ctx.maxQueryBytes);
      sql = head.head.toString('utf8');
      bodySql = { text: sql, whole: head.ended };
    } else if (r.bodyEncoding.content === 'other') {
      sql = null; // an encoding 18.16 refuses (89): unknown, to the writer, which answers the error
    } else {
      const d = await readDecodedHead(req, r.bodyEncoding, ctx.maxQueryBytes, deps.config.limits);
      head = d.raw;
      sql = d.text;
      bodySql = d.text === null ? null : { text: d.text, whole: d.whole };
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
  // The result cache (cache-flight.ts): a hit, a shared run of the same query, or a run that others can share.
  let cacheRead = httpCacheRead({
    cfg: deps.cache,
    plan,
    wholeSql: wholeSql(req, r.method, r.urlQuery, bodySql),
    forced: plan.forced,
    sessionId: r.sessionId,
    userName,
    database,
    backendUser: login.user ? deps.router.identity('reader', r.credentials, login.user).user : r.credentials.user,
    params: r.params,
    acceptEncoding: String(req.headers['accept-encoding'] ?? ''),
  });
  // The proxy must know the query's id to kill it: one of its own when the client sent none (a UUID, as ClickHouse's).
  const queryId = r.queryId !== '' ? r.queryId : ctx.killOnClientClose ? randomUUID() : '';
  const timeoutMs = login.user?.queryTimeoutMs ?? 0;
  /** The backend request, run with query id `id` (the request's own, or a background refresh's). */
  const callFor = (id: string, body: Dispatcher.DispatchOptions['body']): BackendCall => {
    // A query_id the client chose may come back in its next request (a retry after it gave up on this one): the kill
    // of this request must not find that one. Its backend request carries a tag of its own, which the kill requires.
    const tag = ctx.killOnClientClose && id === r.queryId && id !== '' ? killTag() : '';
    return {
      route: plan.route,
      group: plan.group,
      timeoutMs,
      build: (target, route) => {
        const identity = login.user ? deps.router.identity(route, r.credentials, login.user) : null;
        const out = outboundRequest({
          pathname: r.pathname, search: r.search, params: r.params, headers: req.headers, identity, injected: plan.injected,
          defaultDatabase: r.database ? '' : login.user?.database ?? '', queryId: id === r.queryId ? '' : id, userAgentTag: tag,
        });
        return { method: r.method, path: out.path, headers: out.headers, body };
      },
      onCut: ctx.killOnClientClose
        ? (pool, target, route, clientGone, at) => {
            const credentials = login.user ? deps.router.identity(route, r.credentials, login.user) : r.credentials;
            killInBackground({ pool, queryId: id, userAgentTag: tag, credentials, timeoutMs: ctx.killTimeoutMs }, { backend: target.name, clientGone, at, log: deps.log });
          }
        : null,
    };
  };
  // The user's query limits apply to every query, a cache hit and a single-flight follower included, as on the native
  // port (query-placement.ts): the slot is taken before the cache is read and held until the answer is out.
  const abort = new RequestAbort(res);
  let release: Release | null = null;
  if (login.limiter) {
    const a = await login.limiter.admit(abort.signal());
    if (isLimitRefusal(a)) {
      abort.dispose();
      deps.events.query(plan.route, info.kind, info);
      // Left while queued: nobody to answer (counted as the native port counts a vanished client).
      const code = abort.clientGone ? ProxyErrorCode.NETWORK_ERROR : sendError(res, replyError(a.chCode, a.message)).chCode;
      deps.events.queryDone(plan.route, seconds(started), { origin: 'proxy', code }, info);
      return;
    }
    release = a;
  }
  try {
    if (cacheRead) {
      const held = heldBody(r.method, head);
      const path = await serveCacheable({
        ctx, res, read: cacheRead, clientQueryId: r.queryId, queryId, callFor: (id) => callFor(id, held), info, bodyBytes: held?.length ?? 0,
      });
      if (path === 'answered') return;
      // 'run': a shared run gave this request nothing, it runs alone (recorded as a miss); 'bypass': the store failed.
      if (path === 'bypass') cacheRead = null;
    }
    await runAlone({ req, res, r, ctx, plan, info, started, sql, database, head, queryId, timeoutMs, callFor, cacheRead, abort });
  } finally {
    abort.dispose();
    release?.();
  }
}

interface AloneRun {
  req: IncomingMessage;
  res: ServerResponse;
  r: HttpQueryRequest;
  ctx: HandlerContext;
  plan: Exclude<ReturnType<typeof planHttpQuery>, { refuse: unknown }>;
  info: QueryInfo;
  started: bigint;
  sql: string | null;
  database: string;
  head: BodyHead | null;
  queryId: string;
  timeoutMs: number;
  callFor(id: string, body: Dispatcher.DispatchOptions['body']): BackendCall;
  cacheRead: ReturnType<typeof httpCacheRead>;
  abort: RequestAbort;
}

/** The request's own backend run (not shared), recording its answer for the cache when it is a cacheable read. */
async function runAlone(a: AloneRun): Promise<void> {
  const { req, res, r, ctx, plan, info, started, sql, database, head, queryId, timeoutMs, callFor, abort } = a;
  const { deps } = ctx;
  let cacheRead = a.cacheRead;
  const mark = cacheRead ? await cacheRead.cfg.cache.markFor(cacheRead.plan.tables) : null;
  if (cacheRead && mark === null) cacheRead = null;
  const recorder = cacheRead ? new HttpRecorder(cacheRead.cfg.cache.maxEntryBytes) : null;
  // A write's response ends only after the cache entries of what it wrote are invalidated (as on the native port).
  const invalidating = deps.cache && (plan.cls.kind === 'write' || plan.cls.kind === 'unknown') ? deps.cache.cache : null;
  info.queryId = queryId;
  deps.events.query(plan.route, info.kind, info);
  let outcome: Outcome;
  let toClient = 0;
  let toBackend = 0;
  try {
    // Replayable (a read may then try another reader): no body, or a body read whole as its head.
    const replayable = r.method === 'GET' || (head !== null && head.ended);
    const body: Dispatcher.DispatchOptions['body'] =
      r.method === 'GET' ? undefined : replayable ? head!.head : Readable.from(counted(head ? bodyWithHead(head, req) : req, (n) => (toBackend += n)), { objectMode: false });
    if (replayable && head) toBackend = head.head.length;
    const call = callFor(queryId, body);
    let timedOut = false;
    const timer = timeoutMs > 0 ? setTimeout(() => ((timedOut = true), abort.abort()), timeoutMs) : null;
    try {
      const options = {
        onChunk: (chunk: Buffer) => {
          toClient += chunk.length;
          recorder?.add(chunk);
        },
        holdEnd: invalidating !== null,
        okHeaders: recorder ? ['X-Cache', 'MISS', 'X-Cache-Status', 'MISS'] : [],
        queryId,
      };
      const sent = await send(ctx, plan.route, plan.group, replayable, abort, call.onCut, options, res, call.build);
      try {
        const answer = await sent.exchange.answered;
        await sent.exchange.finished;
        outcome = answer.statusCode >= 400 ? { origin: 'backend', code: answer.exceptionCode ?? 0 } : undefined;
        if (invalidating) {
          await invalidating.invalidate(writtenTables(sql ?? '', database));
          res.end();
        }
        if (cacheRead && recorder && mark && answer.statusCode === 200) {
          const entry = recorder.finish(answer.header, cacheRead.plan.tables, cacheRead.plan.ttlMs);
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
    if (abort.clientGone) {
      // The client went away; nobody to answer. Counted as the native port counts a vanished client.
      outcome ??= { origin: 'proxy', code: ProxyErrorCode.NETWORK_ERROR };
      return;
    }
    const err = toReplyError(e);
    outcome = { origin: 'proxy', code: err.chCode };
    sendError(res, e);
  } finally {
    deps.events.bytes(toClient, toBackend);
    deps.events.queryDone(plan.route, seconds(started), outcome, info);
  }
}

/** A body stream that counts what passes, as the backend pulls it. */
async function* counted(body: AsyncIterable<Buffer>, count: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    count(chunk.length);
    yield chunk;
  }
}
