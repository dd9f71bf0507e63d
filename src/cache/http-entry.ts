/**
 * Cache entries of the HTTP interface (issue 7): the response body as ClickHouse sent it, with the headers a client
 * needs to read it again (Content-Type, Content-Encoding, X-ClickHouse-Format, …). They live in the same stores as
 * native entries and carry the same table list, so a write seen on either port invalidates both. The body is stored
 * as one "packet" of the entry (blockStart 0, revision 0): replay never parses it.
 *
 * Layout of that packet: u32 header-JSON length | header JSON (UTF-8, [name, value] pairs) | body.
 */
import { makeEntry, type Entry } from './entry';
import { cacheKey, type KeyPair } from './cache-key';
import { CacheEntryError } from './errors';
import { ownedConcat } from './owned-buffer';

/** Response headers kept with a cached body (lower case); anything per request or per connection is not. */
export const HTTP_KEPT_HEADERS: readonly string[] = [
  'content-type',
  'content-encoding',
  'x-clickhouse-format',
  'x-clickhouse-timezone',
  'x-clickhouse-server-display-name',
];

/** URL parameters that never change a response's bytes, or are per request, or are secrets: not in the key. */
const NOT_IN_KEY: ReadonlySet<string> = new Set([
  'query', 'database', 'user', 'password', 'quota_key', 'query_id', 'session_id', 'session_timeout', 'session_check',
  'send_progress_in_http_headers', 'http_headers_progress_interval_ms', 'log_queries', 'log_comment', 'max_threads',
  'priority', 'send_logs_level',
]);

export interface HttpKeyInput {
  /** The SQL text (URL `query` and, for a query in the body, the body text). */
  sql: string;
  /** cache-key form of `sql` (src/router normalizeForCacheKey). */
  normalizedSql: string;
  database: string;
  /** Backend group and backend user the read runs as. */
  readIdentity: string;
  /** The request's URL parameters. */
  params: URLSearchParams;
  /** Request headers that change the response: Accept-Encoding. */
  acceptEncoding: string;
}

/** The key of an HTTP read: like a native one, over everything in the request that changes the response bytes. */
export function httpCacheKey(k: HttpKeyInput): string {
  const settings: KeyPair[] = [{ name: 'gatehouse:http', value: '1' }, { name: 'gatehouse:accept-encoding', value: k.acceptEncoding }];
  const parameters: KeyPair[] = [];
  for (const [name, value] of k.params) {
    if (NOT_IN_KEY.has(name)) continue;
    if (name.startsWith('param_')) parameters.push({ name: name.slice(6), value });
    else settings.push({ name, value });
  }
  return cacheKey({ normalizedSql: k.normalizedSql, database: k.database, readIdentity: k.readIdentity, revision: 0, settings, parameters });
}

/** A stored HTTP response. */
export interface HttpCached {
  headers: [string, string][];
  body: Buffer;
}

/** The entry for a complete response. */
export function makeHttpEntry(r: { headers: [string, string][]; body: readonly Buffer[]; tables: readonly string[]; ttlMs: number; createdAt?: number }): Entry {
  const head = Buffer.from(JSON.stringify(r.headers), 'utf8');
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32LE(head.length, 0);
  const packets = ownedConcat([len, head, ...r.body]);
  return makeEntry({
    createdAt: r.createdAt ?? Date.now(),
    ttlMs: r.ttlMs,
    tables: r.tables,
    revision: 0,
    packets,
    index: Uint32Array.from([packets.length, 0]),
  });
}

/** Headers and body of an HTTP entry (the body is a view, no copy); throws CacheEntryError on a malformed one. */
export function readHttpEntry(e: Entry): HttpCached {
  const p = e.packets;
  if (e.revision !== 0 || p.length < 4) throw new CacheEntryError('malformed', 'not an HTTP entry');
  const n = p.readUInt32LE(0);
  if (n > p.length - 4) throw new CacheEntryError('truncated', 'HTTP entry headers');
  let headers: unknown;
  try {
    headers = JSON.parse(p.toString('utf8', 4, 4 + n));
  } catch {
    throw new CacheEntryError('malformed', 'HTTP entry headers are not JSON');
  }
  if (!Array.isArray(headers) || !headers.every((h) => Array.isArray(h) && h.length === 2 && h.every((x) => typeof x === 'string'))) {
    throw new CacheEntryError('malformed', 'HTTP entry headers');
  }
  return { headers: headers as [string, string][], body: p.subarray(4 + n) };
}

/**
 * ClickHouse reports an exception that happens after the response started in the body itself (the status is already
 * 200): such a response must not be cached. It ends with the exception text, e.g. `Code: 395, e.displayText() = …`.
 */
export function bodyEndsWithException(tail: Buffer): boolean {
  return /(?:^|\n)Code: \d+, e\.displayText\(\) = [^\n]*\n?$/.test(tail.toString('latin1'));
}
