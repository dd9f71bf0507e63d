/**
 * `KILL QUERY … ASYNC` for a query whose HTTP request the proxy cut (its client went away, or it ran past the user's
 * query_timeout_ms). Cutting the backend connection is not enough: 18.16's HTTPHandler notices a closed connection
 * only when it writes, so a query that sends nothing for minutes (a long aggregation, no progress headers) would run
 * on. The kill goes to the same backend as the same account the query ran as: 18.16 runs KILL QUERY for any user,
 * readonly=2 profiles included (tested against the sandbox), and later servers let a user kill its own queries
 * without the KILL QUERY grant (InterpreterKillQueryQuery.cpp, extractQueriesExceptMeAndCheckAccess).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { quoteString } from '../protocol';
import type { CutAt } from './exchange';
import type { Credentials } from './request';

/**
 * A request cut before its backend answered may still have been on its way: its query can start just after a kill
 * looked for it and found nothing. Such a kill is sent again after these delays while it finds nothing.
 */
export const KILL_RETRY_DELAYS_MS: readonly number[] = [500, 2_000];

export interface KillRequest {
  /** The pool of the backend that ran the query. */
  pool: Dispatcher;
  queryId: string;
  /**
   * The tag its backend request carried in its User-Agent ({@link killTag}; '' none): the kill then matches only a
   * query whose http_user_agent holds it, not a later request that reuses the client's query_id.
   */
  userAgentTag?: string;
  /** The account the query ran as (the backend identity, or the client's own credentials in pass-through mode). */
  credentials: Credentials;
  /** The kill's own bound: headers and body each (http.kill_timeout_ms). */
  timeoutMs: number;
}

/**
 * What the backend said: `waiting` (cancel sent), `finished` (it ended meanwhile), another kill_status of
 * InterpreterKillQueryQuery, `not_running` (no such query: it had ended, or never started), or `failed`.
 */
export interface KillOutcome {
  status: string;
  /** Why it failed: an HTTP status and ClickHouse code, or the request's error code. */
  detail?: string;
}

/**
 * A tag that names one backend request, for its User-Agent (system.processes.http_user_agent, 18.16 included):
 * `gatehouse-request/` and 16 hex digits.
 */
export function killTag(): string {
  return `gatehouse-request/${randomBytes(8).toString('hex')}`;
}

/** Sends the kill; never throws. */
export async function killQuery(k: KillRequest): Promise<KillOutcome> {
  try {
    const res = await k.pool.request({
      method: 'POST',
      path: '/',
      headers: { 'x-clickhouse-user': k.credentials.user, 'x-clickhouse-key': k.credentials.password, 'content-type': 'text/plain' },
      // ASYNC: answer once the cancel is sent, not when the query has stopped. The rows are
      // kill_status, query_id, user, query (TabSeparated, the HTTP default).
      body: `KILL QUERY WHERE query_id = ${quoteString(k.queryId)}${k.userAgentTag ? ` AND position(http_user_agent, ${quoteString(k.userAgentTag)}) > 0` : ''} ASYNC`,
      headersTimeout: k.timeoutMs,
      bodyTimeout: k.timeoutMs,
    });
    const head = await firstBytes(res.body, 64);
    if (res.statusCode !== 200) {
      const code = /^Code: (\d+)/.exec(head)?.[1];
      return { status: 'failed', detail: `HTTP ${res.statusCode}${code ? `, code ${code}` : ''}` };
    }
    const status = head.split(/[\t\n]/, 1)[0] ?? '';
    return { status: status === '' ? 'not_running' : status };
  } catch (e) {
    // The code only: undici's messages may carry the URL.
    const err = e as { code?: string; name?: string };
    return { status: 'failed', detail: err.code ?? err.name ?? 'error' };
  }
}

/** The first `n` bytes of a body as text; the rest is read and dropped, so the connection goes back to the pool. */
async function firstBytes(body: AsyncIterable<Buffer>, n: number): Promise<string> {
  let head = '';
  for await (const chunk of body) if (head.length < n) head += chunk.subarray(0, n - head.length).toString('latin1');
  return head;
}

/** Where a kill is logged, and why the query was cut. */
export interface KillContext {
  backend: string;
  /** true: the client went away; false: the proxy cut it (query_timeout_ms). */
  clientGone: boolean;
  /** Whether the backend had answered when the request was cut ('sent': not yet; the kill is retried). */
  at: CutAt;
  log: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * Sends the kill without waiting for it (again after KILL_RETRY_DELAYS_MS while it finds nothing, when the request was
 * cut before the backend answered), and logs its outcome (there is no metric of backend-side cancels): info when the
 * backend answered, warn when the kill itself failed (the query may then run on until it ends).
 */
export function killInBackground(k: KillRequest, c: KillContext): void {
  void (async () => {
    let o = await killQuery(k);
    let attempts = 1;
    for (const ms of c.at === 'sent' ? KILL_RETRY_DELAYS_MS : []) {
      if (o.status !== 'not_running') break;
      await sleep(ms, undefined, { ref: false });
      o = await killQuery(k);
      attempts++;
    }
    const fields = {
      backend: c.backend, query_id: k.queryId, cause: c.clientGone ? 'client_gone' : 'query_timeout', status: o.status, attempts,
      ...(o.detail ? { detail: o.detail } : {}),
    };
    if (o.status === 'failed') c.log('warn', 'http: KILL QUERY for a cut request failed', fields);
    else c.log('info', 'http: KILL QUERY sent for a cut request', fields);
  })();
}
