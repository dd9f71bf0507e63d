/**
 * The request as it goes to a backend: the client's path, parameters and headers unchanged (settings, param_*,
 * query_id, session_id, default_format, compression parameters and encodings), except that with a proxy user the
 * client's credentials are removed wherever they were and the backend identity is sent instead, enforced settings
 * replace the client's, and hop-by-hop headers stay on this hop (RFC 9110 §7.6.1).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { BackendIdentity } from '../pool';
import type { Setting } from '../protocol';
import { CREDENTIAL_HEADERS, CREDENTIAL_PARAMS } from './request';

/** Headers that describe one connection, not the request (and `host`, which names the proxy). */
export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'expect',
]);

export interface Outbound {
  path: string;
  headers: Record<string, string>;
}

export interface OutboundOptions {
  pathname: string;
  /** The URL's query string as the client sent it (without '?'). */
  search: string;
  params: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The backend identity replacing the client's credentials; null: they pass through. */
  identity: BackendIdentity | null;
  injected: readonly Setting[];
  /** A database to use when the client named none (the proxy user's `database`). */
  defaultDatabase: string;
  /** A query_id the proxy chose because the client sent none (http.kill_on_client_close); '' for none. */
  queryId: string;
  /** Appended to the User-Agent, so that a kill can tell this request from another with the same query_id; '' none. */
  userAgentTag?: string;
}

export function outboundRequest(o: OutboundOptions): Outbound {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(o.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (o.identity && (CREDENTIAL_HEADERS as readonly string[]).includes(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (o.userAgentTag) {
    const ua = headers['user-agent'];
    headers['user-agent'] = ua ? `${ua} ${o.userAgentTag}` : o.userAgentTag;
  }
  if (!o.identity && o.injected.length === 0 && o.defaultDatabase === '' && (o.queryId === '' || !o.params.has('query_id'))) {
    // Nothing to change in the URL but perhaps an added query_id: it goes as the client sent it.
    const added = o.queryId === '' ? '' : `query_id=${encodeURIComponent(o.queryId)}`;
    const search = added === '' ? o.search : o.search === '' ? added : `${o.search}&${added}`;
    return { path: search === '' ? o.pathname : `${o.pathname}?${search}`, headers };
  }
  const params = new URLSearchParams(o.params);
  if (o.identity) {
    for (const p of CREDENTIAL_PARAMS) params.delete(p);
    // Headers rather than URL parameters: a URL can end up in access logs, with the password in it.
    headers['x-clickhouse-user'] = o.identity.user;
    headers['x-clickhouse-key'] = o.identity.password;
  }
  for (const s of o.injected) params.set(s.name, s.value);
  if (o.defaultDatabase !== '' && !params.has('database')) params.set('database', o.defaultDatabase);
  // set(): replaces an empty query_id= the client sent rather than adding a second one.
  if (o.queryId !== '') params.set('query_id', o.queryId);
  const search = params.toString();
  return { path: search === '' ? o.pathname : `${o.pathname}?${search}`, headers };
}
