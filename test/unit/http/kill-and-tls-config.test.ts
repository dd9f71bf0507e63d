/**
 * Issue 7 additions to the HTTP frontend, without servers: the `http` keys for backend TLS and kills (defaults,
 * bounds), what a reload applies or reports, the query_id the proxy adds to a forwarded request, and which query ids
 * may travel in a response header.
 */
import { configSchema, type GatehouseConfig } from '../../../src/config';
import { isHeaderValue } from '../../../src/http/exchange';
import { outboundRequest, type OutboundOptions } from '../../../src/http/outbound';
import { killTag } from '../../../src/http/query-kill';
import type { HttpReloadableOptions } from '../../../src/http';
import { reloadHttpFrontend, type HttpFrontend } from '../../../src/serve-http';

const parse = (http: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): GatehouseConfig =>
  configSchema.parse({ writer: '127.0.0.1:9000', ...(http ? { http: { listen: '127.0.0.1:8123', ...http } } : {}), ...extra });

describe('http config keys', () => {
  test('defaults: HTTPS port 8443, kill on, 10 s kill timeout', () => {
    expect(parse({}).http).toMatchObject({
      backend_port: 8123,
      backend_ports: {},
      backend_https_port: 8443,
      backend_https_ports: {},
      kill_on_client_close: true,
      kill_timeout_ms: 10_000,
    });
  });

  test.each([
    [{ backend_https_port: 0 }, 'backend_https_port'],
    [{ backend_https_ports: { writer: 70000 } }, 'backend_https_ports'],
    [{ kill_timeout_ms: 0 }, 'kill_timeout_ms'],
    [{ kill_on_client_close: 'yes' }, 'kill_on_client_close'],
    [{ kill_on_close: true }, ''],
  ])('%j is refused', (http, key) => {
    const r = configSchema.safeParse({ writer: '127.0.0.1:9000', http: { listen: '127.0.0.1:8123', ...http } });
    expect(r.success).toBe(false);
    if (!r.success && key !== '') expect(r.error.issues[0]!.path.slice(0, 2)).toEqual(['http', key]);
  });
});

/** A stand-in frontend that records what a reload hands it. */
function frontend(backendTls: boolean): HttpFrontend & { got: HttpReloadableOptions[] } {
  const got: HttpReloadableOptions[] = [];
  return { host: '127.0.0.1', port: 1, backendTls, got, close: async () => undefined, reconfigure: (o) => got.push(o) };
}

describe('reloadHttpFrontend', () => {
  test('ports, body head size and kill keys are applied, for the scheme the frontend runs with', () => {
    const before = parse({});
    const after = parse({ backend_ports: { writer: 18123 }, backend_https_ports: { writer: 18443 }, max_query_bytes: 4096, kill_on_client_close: false, kill_timeout_ms: 500 });
    const plain = frontend(false);
    expect(reloadHttpFrontend(plain, before, after)).toEqual([]);
    expect(plain.got).toEqual([
      { backendPorts: { ports: { writer: 18123 }, defaultPort: 8123 }, maxQueryBytes: 4096, killOnClientClose: false, killTimeoutMs: 500 },
    ]);
    // backend_tls is a restart key: a frontend started with TLS keeps the HTTPS ports even if the new file turns it off.
    const secure = frontend(true);
    reloadHttpFrontend(secure, before, after);
    expect(secure.got[0]!.backendPorts).toEqual({ ports: { writer: 18443 }, defaultPort: 8443 });
  });

  test('listen and backend_connections are reported; adding or removing the section is `http`', () => {
    const f = frontend(false);
    expect(reloadHttpFrontend(f, parse({}), parse({ listen: '127.0.0.1:9123', backend_connections: 2 }))).toEqual(['http.listen', 'http.backend_connections']);
    expect(reloadHttpFrontend(null, parse(undefined), parse({}))).toEqual(['http']);
    expect(reloadHttpFrontend(f, parse({}), parse(undefined))).toEqual(['http']);
    expect(reloadHttpFrontend(null, parse(undefined), parse(undefined))).toEqual([]);
  });
});

describe('outboundRequest: the query_id the proxy adds', () => {
  const base = (search: string, over: Partial<OutboundOptions> = {}): OutboundOptions => ({
    pathname: '/',
    search,
    params: new URLSearchParams(search),
    headers: {},
    identity: null,
    injected: [],
    defaultDatabase: '',
    queryId: 'q-1',
    ...over,
  });

  test('appended to a URL otherwise forwarded as sent', () => {
    expect(outboundRequest(base('')).path).toBe('/?query_id=q-1');
    expect(outboundRequest(base('query=SELECT%201&max_threads=2')).path).toBe('/?query=SELECT%201&max_threads=2&query_id=q-1');
  });

  test('replaces an empty query_id= instead of adding a second one', () => {
    expect(outboundRequest(base('query_id=&query=SELECT+1')).path).toBe('/?query_id=q-1&query=SELECT+1');
  });

  test('set alongside a substituted identity', () => {
    const out = outboundRequest(base('user=app&password=pw&query=SELECT+1', { identity: { user: 'gh_reader', password: 'x' } }));
    expect(out.path).toBe('/?query=SELECT+1&query_id=q-1');
    expect(out.headers['x-clickhouse-user']).toBe('gh_reader');
  });

  test('none added when the proxy chose none', () => {
    expect(outboundRequest(base('query_id=mine', { queryId: '' })).path).toBe('/?query_id=mine');
    expect(outboundRequest(base('', { queryId: '' })).path).toBe('/');
  });
});

describe("the kill's tag, for a query_id the client chose", () => {
  const opts = (headers: OutboundOptions['headers'], userAgentTag?: string): OutboundOptions => ({
    pathname: '/', search: 'query_id=mine', params: new URLSearchParams('query_id=mine'), headers, identity: null, injected: [],
    defaultDatabase: '', queryId: '', userAgentTag,
  });

  test('is appended to the client\'s User-Agent, or is the whole of it; the URL is untouched', () => {
    const tag = killTag();
    expect(tag).toMatch(/^gatehouse-request\/[0-9a-f]{16}$/);
    expect(killTag()).not.toBe(tag);
    const withUa = outboundRequest(opts({ 'user-agent': 'curl/7.88.1' }, tag));
    expect(withUa.headers['user-agent']).toBe(`curl/7.88.1 ${tag}`);
    expect(withUa.path).toBe('/?query_id=mine');
    expect(outboundRequest(opts({}, tag)).headers['user-agent']).toBe(tag);
    expect(outboundRequest(opts({ 'user-agent': 'curl/7.88.1' })).headers['user-agent']).toBe('curl/7.88.1');
  });
});

test('isHeaderValue: what node:http accepts in X-ClickHouse-Query-Id', () => {
  expect(isHeaderValue('3f2b8c9e-0d7e-4a51-9b0c-0d6c1b2a3e4f')).toBe(true);
  expect(isHeaderValue('my query #1 é')).toBe(true);
  expect(isHeaderValue('a\nb')).toBe(false);
  expect(isHeaderValue('a\u0000b')).toBe(false);
  expect(isHeaderValue('日本')).toBe(false);
});
