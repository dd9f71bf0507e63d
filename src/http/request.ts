/**
 * What an HTTP request to ClickHouse's `/` handler says, read the way 18.16 reads it (HTTPHandler.cpp): credentials
 * from `user`/`password` parameters, then X-ClickHouse-User/X-ClickHouse-Key, then Basic auth; the query in
 * `?query=` and/or the body, which may be compressed (Content-Encoding gzip or deflate, `decompress=1`).
 */
import type { IncomingMessage } from 'node:http';
import { bodyEncodingOf, type BodyEncoding } from './body-decode';

export interface Credentials {
  user: string;
  password: string;
}

export interface HttpQueryRequest {
  method: 'GET' | 'POST';
  /** The URL's path (`/`, `/ping`, …). */
  pathname: string;
  /** The URL's parameters in order, as sent (settings, param_*, database, query_id, session_id, …). */
  params: URLSearchParams;
  /** The URL's query string as sent, without '?'. */
  search: string;
  /** The client's credentials; `default` with an empty password when it sent none, as ClickHouse assumes. */
  credentials: Credentials;
  /** `?query=` (empty: the query is the body). */
  urlQuery: string;
  /** How the body is encoded (Content-Encoding, ClickHouse's own `decompress=1`): body-decode.ts reads a query in it. */
  bodyEncoding: BodyEncoding;
  /** `database` parameter, or X-ClickHouse-Database (later servers) — '' when none. */
  database: string;
  sessionId: string;
  queryId: string;
}

/** Parameters and headers that carry credentials: never forwarded when the proxy substitutes its own identity. */
export const CREDENTIAL_PARAMS = ['user', 'password'] as const;
export const CREDENTIAL_HEADERS = ['x-clickhouse-user', 'x-clickhouse-key', 'authorization'] as const;

export function parseRequest(req: IncomingMessage): HttpQueryRequest {
  const raw = req.url ?? '/';
  // An origin-form target (`/?query=…`) is split by hand: a URL object per request costs more than the rest of this.
  let pathname: string;
  let search: string;
  if (raw.startsWith('/')) {
    const q = raw.indexOf('?');
    pathname = q === -1 ? raw : raw.slice(0, q);
    search = q === -1 ? '' : raw.slice(q + 1);
  } else {
    const url = new URL(raw, 'http://gatehouse');
    pathname = url.pathname;
    search = url.search.slice(1);
  }
  const params = new URLSearchParams(search);
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const contentEncoding = (header('content-encoding') ?? '').trim().toLowerCase();
  return {
    method: req.method === 'GET' || req.method === 'HEAD' ? 'GET' : 'POST',
    pathname,
    params,
    search,
    credentials: credentialsOf(params, header),
    urlQuery: params.get('query') ?? '',
    bodyEncoding: bodyEncodingOf(contentEncoding, isTrue(params.get('decompress'))),
    database: params.get('database') ?? header('x-clickhouse-database') ?? '',
    sessionId: params.get('session_id') ?? '',
    queryId: params.get('query_id') ?? '',
  };
}

/** 18.16's order: URL parameters win, then the X-ClickHouse headers, then Basic auth. */
function credentialsOf(params: URLSearchParams, header: (name: string) => string | undefined): Credentials {
  if (params.has('user') || params.has('password')) {
    return { user: params.get('user') || 'default', password: params.get('password') ?? '' };
  }
  const hUser = header('x-clickhouse-user');
  const hKey = header('x-clickhouse-key');
  if (hUser !== undefined || hKey !== undefined) return { user: hUser || 'default', password: hKey ?? '' };
  const auth = header('authorization');
  const m = auth ? /^Basic\s+(\S+)$/i.exec(auth.trim()) : null;
  if (m) {
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? { user: decoded || 'default', password: '' } : { user: decoded.slice(0, colon) || 'default', password: decoded.slice(colon + 1) };
  }
  return { user: 'default', password: '' };
}

function isTrue(v: string | null): boolean {
  return v !== null && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}
