/**
 * Issue 7, the result cache on the HTTP port: the same store, rules and invalidation as the native port, an X-Cache
 * header, a key that covers the output format and the response encoding. The proxy here has no readers, so reads
 * and writes meet on the writer and a stale cached answer would show.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { errorCodeOf, runClient, startSandboxCluster, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

let cluster: SandboxCluster;
let tmpDir: string;
let gh: Gatehouse;

async function get(sql: string, params: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<{ status: number; cache: string | null; body: Buffer; encoding: string | null }> {
  const url = new URL(`http://127.0.0.1:${gh.httpPort}/`);
  url.searchParams.set('query', sql);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { headers: { 'Accept-Encoding': 'identity', ...headers } });
  return { status: res.status, cache: res.headers.get('x-cache'), body: Buffer.from(await res.arrayBuffer()), encoding: res.headers.get('content-encoding') };
}

async function post(body: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${gh.httpPort}/`, { method: 'POST', body });
  await res.arrayBuffer();
  return res.status;
}

async function native(sql: string): Promise<string> {
  const res = await runClient(gh.port, ['--query', sql], '');
  if (errorCodeOf(res.stderr) !== null || res.code !== 0) throw new Error(res.stderr);
  return res.stdout;
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-http-cache-'));
  cluster = await startSandboxCluster({ readers: 0 });
  const file = path.join(tmpDir, 'c.yaml');
  fs.writeFileSync(file, [`writer: "127.0.0.1:${cluster.writer.tcpPort}"`, 'admin: "127.0.0.1:0"', 'http:', '  listen: "127.0.0.1:0"', `  backend_port: ${cluster.writer.httpPort}`, 'cache: { enabled: true, ttl_seconds: 60 }'].join('\n'));
  gh = await startGatehouse(['--config', file]);
  await native('CREATE TABLE default.hc (x UInt32) ENGINE = MergeTree ORDER BY x');
  await native('INSERT INTO default.hc SELECT number FROM numbers(10)');
}, 120_000);

afterAll(async () => {
  await gh?.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('HTTP result cache', () => {
  it('misses, then hits with the same bytes; another format or encoding is another entry', async () => {
    const sql = 'SELECT x, toString(x) AS s FROM default.hc ORDER BY x';
    const first = await get(sql);
    const second = await get(sql);
    expect([first.status, first.cache, second.status, second.cache]).toEqual([200, 'MISS', 200, 'HIT']);
    expect(second.body.equals(first.body)).toBe(true);
    const json = await get(sql, { default_format: 'JSONEachRow' });
    expect(json.cache).toBe('MISS');
    expect(json.body.toString()).toContain('{"x":0,"s":"0"}');
    expect((await get(sql, { default_format: 'JSONEachRow' })).cache).toBe('HIT');
    const gz = await get(sql, { enable_http_compression: '1' }, { 'Accept-Encoding': 'gzip' });
    const gz2 = await get(sql, { enable_http_compression: '1' }, { 'Accept-Encoding': 'gzip' });
    expect([gz.cache, gz2.cache, gz2.encoding]).toEqual(['MISS', 'HIT', 'gzip']);
    // fetch decodes gzip itself (the Content-Encoding header says what travelled).
    expect(gz2.body.equals(first.body)).toBe(true);
  }, 60_000);

  it('a query sent gzip-compressed in the body is cached like a plain one (the same entry), and a gzip INSERT invalidates it', async () => {
    const sql = "SELECT count(), sum(x) FROM default.hc WHERE 'gz body' != ''";
    const send = async (body: Buffer | string, gzip: boolean) => {
      const res = await fetch(`http://127.0.0.1:${gh.httpPort}/`, {
        method: 'POST',
        body: gzip ? gzipSync(body) : body,
        headers: gzip ? { 'Content-Encoding': 'gzip' } : {},
      });
      return { status: res.status, cache: res.headers.get('x-cache'), body: await res.text() };
    };
    const first = await send(sql, true);
    const second = await send(sql, true);
    const plain = await send(sql, false);
    expect([first.status, first.cache, second.cache, plain.cache]).toEqual([200, 'MISS', 'HIT', 'HIT']);
    expect([second.body, plain.body]).toEqual([first.body, first.body]);
    // A write whose statement is in a gzip body is classified, so it invalidates what it wrote.
    expect((await send('INSERT INTO default.hc VALUES (300)', true)).status).toBe(200);
    const after = await send(sql, true);
    expect(after.cache).toBe('MISS');
    expect(Number(after.body.split('\t')[0])).toBe(Number(first.body.split('\t')[0]) + 1);
  }, 60_000);

  it('does not cache what is not cacheable', async () => {
    const r1 = await get('SELECT count() FROM default.hc WHERE x > rand() % 3');
    const r2 = await get('SELECT count() FROM default.hc WHERE x > rand() % 3');
    expect([r1.cache, r2.cache]).toEqual([null, null]);
    const e1 = await get('SELECT * FROM default.no_such_table_hc');
    const e2 = await get('SELECT * FROM default.no_such_table_hc');
    expect([e1.status, e2.status, e2.cache]).toEqual([404, 404, null]);
  }, 60_000);

  it('a native INSERT invalidates an HTTP cached read, and an HTTP INSERT a native one', async () => {
    const sql = 'SELECT count() FROM default.hc';
    const a = await get(sql);
    expect((await get(sql)).cache).toBe('HIT');
    await native('INSERT INTO default.hc VALUES (100)');
    const b = await get(sql);
    expect(b.cache).toBe('MISS');
    expect(Number(b.body.toString())).toBe(Number(a.body.toString()) + 1);

    const before = await native('SELECT count() FROM default.hc');
    expect(await native('SELECT count() FROM default.hc')).toBe(before); // cached natively now
    expect(await post('INSERT INTO default.hc VALUES (200), (201)')).toBe(200);
    expect(Number(await native('SELECT count() FROM default.hc'))).toBe(Number(before) + 2);
  }, 60_000);
});
