/**
 * The result cache on the HTTP port (issue 7): the same store, rules and invalidation as the native port, with a key
 * over everything in the request that changes the response bytes (src/cache/http-entry.ts). A read is cacheable
 * only when the proxy holds its whole SQL text (a GET, or a POST whose body is the whole query) and it is not part of
 * an HTTP session (temporary tables); the response is kept only when it is a complete 200 without a trailing
 * exception and under the entry cap.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpCacheKey, makeHttpEntry, readHttpEntry, HTTP_KEPT_HEADERS, bodyEndsWithException, type Entry, type StoreMark } from '../cache';
import { cachePolicy, type CachePlan } from '../frontend/cache-policy';
import type { SessionCacheConfig } from '../frontend/session-cache';
import { ClientCode } from '../protocol';
import { normalizeForCacheKey } from '../router';
import type { HttpPlan } from './plan';
import { isHeaderValue } from './exchange';

export interface HttpCacheRead {
  cfg: SessionCacheConfig;
  key: string;
  plan: CachePlan;
}

export interface HttpCacheInput {
  cfg: SessionCacheConfig | null;
  plan: HttpPlan;
  /** The whole SQL text, or null when the proxy does not hold all of it. */
  wholeSql: string | null;
  forced: boolean;
  sessionId: string;
  userName: string;
  database: string;
  backendUser: string;
  params: URLSearchParams;
  acceptEncoding: string;
}

/** The cache plan of an HTTP read, or null (cache off, not a read, or not cacheable: the bypass is counted). */
export function httpCacheRead(i: HttpCacheInput): HttpCacheRead | null {
  const cfg = i.cfg;
  if (!cfg || i.plan.cls.kind !== 'read' || i.plan.cls.session !== undefined) return null;
  const bypass = (reason: Parameters<typeof cfg.cache.events.bypass>[0]): null => {
    cfg.cache.events.bypass(reason);
    return null;
  };
  if (i.sessionId !== '') return bypass('pinned'); // an HTTP session may hold temporary tables
  if (i.forced || i.plan.route !== 'reader') return bypass('rule');
  if (i.wholeSql === null) return bypass('unknown_tables');
  const d = cachePolicy({
    q: { code: ClientCode.Query, queryId: '', settings: [], stage: 2, compression: false, query: i.wholeSql },
    cls: i.plan.cls,
    userName: i.userName,
    database: i.database,
    group: i.plan.group,
    backendUser: i.backendUser,
    revision: 0,
    settings: [],
    ttlSeconds: cfg.ttlSeconds,
    softTtlSeconds: cfg.softTtlSeconds,
    rule: cfg.rule,
  });
  if (!d.cache) return bypass(d.reason);
  const key = httpCacheKey({
    sql: i.wholeSql,
    normalizedSql: normalizeForCacheKey(i.wholeSql),
    database: i.database,
    readIdentity: `${i.plan.group}\u0000${i.backendUser}`,
    params: i.params,
    acceptEncoding: i.acceptEncoding,
  });
  return { cfg, key, plan: { ...d.plan, key } };
}

/** The value of X-Cache-Status, the finer word beside X-Cache (which stays HIT or MISS). */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'COALESCED';

/**
 * Answers a request from a cached response: the stored body with its kept headers, `X-Cache: HIT` and `X-Cache-Status`
 * (HIT; STALE past the soft TTL; COALESCED when the request waited for another execution of the same query). Returns
 * the body's size.
 */
export function replyFromCache(res: ServerResponse, entry: Entry, queryId: string, status: CacheStatus = 'HIT'): number {
  const { headers, body } = readHttpEntry(entry);
  const out: string[] = [];
  for (const [name, value] of headers) out.push(name, value);
  out.push('X-Cache', 'HIT', 'X-Cache-Status', status, 'Content-Length', String(body.length));
  if (queryId !== '' && isHeaderValue(queryId)) out.push('X-ClickHouse-Query-Id', queryId);
  res.writeHead(200, out);
  res.end(body);
  return body.length;
}

/** Keeps a copy of a response while it streams, up to the entry cap (past it, gives up and drops the copy). */
export class HttpRecorder {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private gaveUp = false;

  constructor(private readonly maxBytes: number) {}

  add(chunk: Buffer): void {
    if (this.gaveUp) return;
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      this.gaveUp = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(chunk);
  }

  get overCap(): boolean {
    return this.gaveUp;
  }

  /** The chunks kept so far (empty once given up): what a client joining a shared answer late gets first. */
  get recorded(): readonly Buffer[] {
    return this.chunks;
  }

  /** The entry for a complete 200 response, or null (over the cap, or ending with an exception). */
  finish(header: (name: string) => string | undefined, tables: readonly string[], ttlMs: number): Entry | null {
    if (this.gaveUp) return null;
    const tail = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1]!.subarray(-512) : Buffer.alloc(0);
    if (bodyEndsWithException(tail)) return null;
    const kept: [string, string][] = [];
    for (const name of HTTP_KEPT_HEADERS) {
      const v = header(name);
      if (v !== undefined) kept.push([name, v]);
    }
    return makeHttpEntry({ headers: kept, body: this.chunks, tables, ttlMs });
  }
}

/**
 * The body of a cacheable request as the proxy holds it (it holds the whole SQL, so the body is that or nothing): sent
 * again by a retry, by a flight after its leader left, and by a background refresh with no client attached.
 */
export function heldBody(method: 'GET' | 'POST', bodyHead: { head: Buffer; ended: boolean } | null): Buffer | undefined {
  if (method === 'GET') return undefined;
  return bodyHead?.ended ? bodyHead.head : Buffer.alloc(0);
}

/** The statement read from a request body (decoded when the body is compressed), and whether it is all of it. */
export interface BodySql {
  readonly text: string;
  readonly whole: boolean;
}

/**
 * The whole SQL text of a request, when the proxy holds it: a GET, a POST whose body is the whole query (read whole,
 * decoded when compressed), a POST with the query in the URL and no body.
 */
export function wholeSql(req: IncomingMessage, method: 'GET' | 'POST', urlQuery: string, body: BodySql | null): string | null {
  if (method === 'GET') return urlQuery;
  if (urlQuery === '') return body?.whole ? body.text : null;
  return req.headers['content-length'] === '0' ? urlQuery : null;
}

export type { StoreMark };
