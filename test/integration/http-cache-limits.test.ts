/**
 * Issue 7: a proxy user's query limits apply on the HTTP port to every query, cache hits and single-flight followers
 * included, as they do on the native port: a hit takes a slot of max_concurrent_queries and a token of
 * max_queries_per_second like any query. Real ClickHouse 18.16 behind; the proxy has no readers, so every query runs
 * on the writer.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { errorCodeOf, httpQuery, runClient, SANDBOX_USERS, startSandboxCluster, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

let cluster: SandboxCluster;
let tmpDir: string;
let gh: Gatehouse;
const RATED = { name: 'rated', password: 'rated_pw' };
const SINGLE = { name: 'single', password: 'single_pw' };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface Answer {
  status: number;
  cache: string | null;
  code: string | null;
  body: string;
}

async function get(user: { name: string; password: string }, sql: string): Promise<Answer> {
  const u = new URL(`http://127.0.0.1:${gh.httpPort}/`);
  u.searchParams.set('query', sql);
  const res = await fetch(u, {
    headers: { 'Accept-Encoding': 'identity', Authorization: `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}` },
  });
  return { status: res.status, cache: res.headers.get('x-cache'), code: res.headers.get('x-clickhouse-exception-code'), body: await res.text() };
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-http-cache-limits-'));
  cluster = await startSandboxCluster({ readers: 0 });
  await httpQuery(cluster.writer.httpPort, 'CREATE TABLE default.hl (x UInt32) ENGINE = MergeTree ORDER BY x');
  await httpQuery(cluster.writer.httpPort, 'INSERT INTO default.hl SELECT number FROM numbers(10)');
  const file = path.join(tmpDir, 'c.yaml');
  fs.writeFileSync(
    file,
    [
      `writer: "127.0.0.1:${cluster.writer.tcpPort}"`,
      'admin: "127.0.0.1:0"',
      'http:',
      '  listen: "127.0.0.1:0"',
      `  backend_port: ${cluster.writer.httpPort}`,
      'cache: { enabled: true, ttl_seconds: 60 }',
      'users:',
      `  - { name: ${RATED.name}, password_sha256_hex: "${sha(RATED.password)}", max_queries_per_second: 1 }`,
      `  - { name: ${SINGLE.name}, password_sha256_hex: "${sha(SINGLE.password)}", max_concurrent_queries: 1 }`,
      `read_user: { name: ${SANDBOX_USERS.reader.name}, password: ${SANDBOX_USERS.reader.password} }`,
      `write_user: { name: ${SANDBOX_USERS.writer.name}, password: ${SANDBOX_USERS.writer.password} }`,
    ].join('\n'),
  );
  gh = await startGatehouse(['--config', file]);
}, 120_000);

afterAll(async () => {
  await gh?.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('HTTP cache reads and the user limits', () => {
  it('a cache hit takes a token of max_queries_per_second (refused with 201 past the rate, then served once it refills)', async () => {
    const sql = `SELECT count() FROM default.hl WHERE '${randomUUID()}' != ''`;
    const first = await get(RATED, sql);
    expect([first.status, first.cache, first.body.trim()]).toEqual([200, 'MISS', '10']);
    // The bucket holds one token (one second of a rate of 1) and the miss took it: the hit right after is refused.
    const refused = await get(RATED, sql);
    expect([refused.status, refused.code, refused.cache]).toEqual([500, '201', null]);
    expect(refused.body).toContain('max_queries_per_second');
    await new Promise((r) => setTimeout(r, 1_200));
    const hit = await get(RATED, sql);
    expect([hit.status, hit.cache, hit.body.trim()]).toEqual([200, 'HIT', '10']);
  }, 60_000);

  it('the native port counts a cache hit the same way', async () => {
    const sql = `SELECT count() FROM default.hl WHERE '${randomUUID()}' != ''`;
    await new Promise((r) => setTimeout(r, 1_200)); // the previous test's last request took the bucket's token
    const native = () => runClient(gh.port, ['--user', RATED.name, '--password', RATED.password, '--query', sql], '');
    const miss = await native();
    const refused = await native();
    await new Promise((r) => setTimeout(r, 1_200));
    const hit = await native();
    expect([miss.stdout.trim(), errorCodeOf(miss.stderr)]).toEqual(['10', null]);
    expect([refused.stdout.trim(), errorCodeOf(refused.stderr)]).toEqual(['', 201]);
    expect([hit.stdout.trim(), errorCodeOf(hit.stderr)]).toEqual(['10', null]);
  }, 60_000);

  it('a hit and a single-flight follower wait for a slot of max_concurrent_queries (202 with no queue)', async () => {
    const mk = randomUUID();
    const slow = `SELECT sleep(1) AS s, '${mk}' AS m`;
    const cached = `SELECT count() FROM default.hl WHERE '${mk}' != ''`;
    expect((await get(SINGLE, cached)).cache).toBe('MISS');
    // While the user's one slot runs a slow query, its cached answer and an identical slow query are both refused,
    // although neither would have run a query of its own on a backend.
    const leader = get(SINGLE, slow);
    await new Promise((r) => setTimeout(r, 300));
    const [hit, follower] = await Promise.all([get(SINGLE, cached), get(SINGLE, slow)]);
    expect([hit.status, hit.code]).toEqual([500, '202']);
    expect(hit.body).toContain('max_concurrent_queries');
    expect([follower.status, follower.code]).toEqual([500, '202']);
    const led = await leader;
    expect([led.status, led.cache]).toEqual([200, 'MISS']);
    // The slot is back: the same requests are served from the cache now.
    const [hitAfter, slowAfter] = [await get(SINGLE, cached), await get(SINGLE, slow)];
    expect([hitAfter.status, hitAfter.cache, slowAfter.status, slowAfter.cache]).toEqual([200, 'HIT', 200, 'HIT']);
  }, 60_000);
});
