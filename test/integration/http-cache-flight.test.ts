/**
 * Issue 7, single-flight and stale-while-revalidate on the HTTP port: identical concurrent misses share one backend
 * execution (in one instance, live; across two instances sharing Redis, through the store's lock), clients of a shared
 * run come and go without affecting each other, an error answer is never shared, and a hit past the soft TTL is
 * answered from the stale entry while exactly one refresh runs. Executions are counted in the writer's own
 * system.query_log (QueryStart rows, after SYSTEM FLUSH LOGS); the proxies have no readers, so every query runs there.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { httpQuery, runClient, SANDBOX_USERS, startRedis, startSandboxCluster, type RedisServer, type SandboxCluster, QUERY_LOG_XML } from '../helpers';
import { beforeWriteFixture, countOf } from '../helpers/before-write';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { sampleValue, until } from '../helpers/poll';

let cluster: SandboxCluster;
let redis: RedisServer;
let tmpDir: string;
/** Memory store. */
let mem: Gatehouse;
/** Memory store with soft_ttl_seconds: 1. */
let swr: Gatehouse;
/** Two instances sharing Redis. */
let ra: Gatehouse;
let rb: Gatehouse;
/** Proxy users with one backend read identity: `slow` has query_timeout_ms 1000, `patient` none. */
let users: Gatehouse;
const SLOW = { name: 'slow', password: 'slow_pw' };
const PATIENT = { name: 'patient', password: 'patient_pw' };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const basic = (u: { name: string; password: string }) => ({ ...IDENTITY, Authorization: `Basic ${Buffer.from(`${u.name}:${u.password}`).toString('base64')}` });

interface Answer {
  status: number;
  cache: string | null;
  cacheStatus: string | null;
  body: Buffer;
}

/** Accept-Encoding is part of the cache key: every request here sends the same one (fetch's default is gzip, …). */
const IDENTITY = { 'Accept-Encoding': 'identity' };

/** A GET of `sql` (log_queries=1: counted in query_log; it is not part of the cache key). */
async function get(port: number, sql: string, params: Record<string, string> = {}, headers: Record<string, string> = IDENTITY): Promise<Answer> {
  const res = await fetch(url(port, sql, params), { headers });
  return { status: res.status, cache: res.headers.get('x-cache'), cacheStatus: res.headers.get('x-cache-status'), body: Buffer.from(await res.arrayBuffer()) };
}

function url(port: number, sql: string, params: Record<string, string> = {}): URL {
  const u = new URL(`http://127.0.0.1:${port}/`);
  u.searchParams.set('query', sql);
  u.searchParams.set('log_queries', '1');
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u;
}

/** The same query straight to the writer (not logged: no log_queries). */
async function direct(sql: string, params: Record<string, string> = {}): Promise<Buffer> {
  const u = new URL(`http://127.0.0.1:${cluster.writer.httpPort}/`);
  u.searchParams.set('query', sql);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const res = await fetch(u, { headers: { 'Accept-Encoding': 'identity' } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Runs for minutes and sends nothing before its one row: only a KILL QUERY stops it on 18.16. */
const endlessQuery = (mk: string) => `SELECT sum(number) FROM numbers(100000000000) WHERE '${mk}' != ''`;

/** Queries containing `mk` running on the writer now. */
async function runningOnWriter(mk: string): Promise<number> {
  return Number((await httpQuery(cluster.writer.httpPort, `SELECT count() FROM system.processes WHERE query LIKE '%${mk}%' AND query NOT LIKE '%system.processes%'`)).trim());
}

/** How many times a query containing `marker` started on the writer. */
async function executions(marker: string): Promise<number> {
  await httpQuery(cluster.writer.httpPort, 'SYSTEM FLUSH LOGS');
  const out = await httpQuery(cluster.writer.httpPort, `SELECT count() FROM system.query_log WHERE type = 1 AND query LIKE '%${marker}%' AND query NOT LIKE '%query_log%'`);
  return Number(out.trim());
}

async function metric(g: Gatehouse, name: string, labels = ''): Promise<number> {
  return sampleValue(await g.metrics(), name, labels);
}

function config(name: string, cacheLines: string[], extra: string[] = []): string {
  const file = path.join(tmpDir, name);
  fs.writeFileSync(
    file,
    [
      ...extra,
      `writer: "127.0.0.1:${cluster.writer.tcpPort}"`,
      'admin: "127.0.0.1:0"',
      'http:',
      '  listen: "127.0.0.1:0"',
      `  backend_port: ${cluster.writer.httpPort}`,
      'cache:',
      '  enabled: true',
      '  ttl_seconds: 60',
      ...cacheLines.map((l) => `  ${l}`),
    ].join('\n'),
  );
  return file;
}

/** A write through `g`'s HTTP or native port, answered without error. */
async function writeThrough(g: Gatehouse, port: 'http' | 'native', sql: string): Promise<void> {
  if (port === 'http') {
    const res = await fetch(url(g.httpPort!, sql), { method: 'POST', headers: IDENTITY });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  } else {
    const res = await runClient(g.port, ['--query', sql], '');
    expect([res.code, res.stderr]).toEqual([0, '']);
  }
}

const sleepQuery = (mk: string, seconds = 0.5) => `SELECT sleep(${seconds}) AS s, 1 AS one, '${mk}' AS m`;
/** About 4 MB in four blocks 0.3 s apart: 18.16 sends it in pieces (about 1 MB each), so a client can leave midway. */
const streamedQuery = (mk: string) =>
  `SELECT number, sleep(0.3) AS s, arrayStringConcat(arrayMap(x -> 'x', range(1000))) AS pad FROM numbers(4000) WHERE '${mk}' != ''`;
const STREAMED_PARAMS = { max_block_size: '1000' };

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-http-flight-'));
  [cluster, redis] = await Promise.all([startSandboxCluster({ readers: 0, extraConfigXml: QUERY_LOG_XML }), startRedis()]);
  await httpQuery(cluster.writer.httpPort, 'CREATE TABLE default.hf (x UInt32) ENGINE = MergeTree ORDER BY x');
  await httpQuery(cluster.writer.httpPort, 'INSERT INTO default.hf SELECT number FROM numbers(10)');
  const redisLines = ['lock_timeout_ms: 10000', `redis: { url: "redis://127.0.0.1:${redis.port}", command_timeout_ms: 500 }`];
  const userLines = [
    'users:',
    `  - { name: ${SLOW.name}, password_sha256_hex: "${sha(SLOW.password)}", query_timeout_ms: 1000 }`,
    `  - { name: ${PATIENT.name}, password_sha256_hex: "${sha(PATIENT.password)}" }`,
    `read_user: { name: ${SANDBOX_USERS.reader.name}, password: ${SANDBOX_USERS.reader.password} }`,
    `write_user: { name: ${SANDBOX_USERS.writer.name}, password: ${SANDBOX_USERS.writer.password} }`,
  ];
  [mem, swr, ra, rb, users] = await Promise.all([
    startGatehouse(['--config', config('mem.yaml', [])]),
    startGatehouse(['--config', config('swr.yaml', ['soft_ttl_seconds: 1'])]),
    startGatehouse(['--config', config('ra.yaml', redisLines)]),
    startGatehouse(['--config', config('rb.yaml', redisLines)]),
    startGatehouse(['--config', config('users.yaml', [], userLines)]),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([mem?.stop(), swr?.stop(), ra?.stop(), rb?.stop(), users?.stop()]);
  await redis?.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('HTTP single-flight (one instance)', () => {
  it('20 concurrent identical misses run once; every answer is byte-identical to a direct one', async () => {
    const mk = `sf20-${randomUUID().slice(0, 8)}`;
    const sql = sleepQuery(mk);
    const expected = await direct(sql);
    const waits0 = await metric(mem, 'gatehouse_cache_singleflight_waits_total', 'scope="process"');
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(mem.httpPort!, sql)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.equals(expected)).toBe(true);
    }
    // One leader; the others got its answer live.
    expect(answers.map((a) => `${a.cache}/${a.cacheStatus}`).sort()).toEqual(['MISS/MISS', ...Array<string>(19).fill('HIT/COALESCED')].sort());
    expect(await executions(mk)).toBe(1);
    expect(await metric(mem, 'gatehouse_cache_singleflight_waits_total', 'scope="process"')).toBe(waits0 + 19);
    const again = await get(mem.httpPort!, sql);
    expect([again.cache, again.cacheStatus, again.body.equals(expected)]).toEqual(['HIT', 'HIT', true]);
    expect(await executions(mk)).toBe(1);
  }, 120_000);

  it.each(['http', 'native'] as const)('a request sent after a write (%s port) to a table it reads does not join a run that started before the write', async (writePort) => {
    const mk = `ryw-${randomUUID().slice(0, 8)}`;
    const bw = await beforeWriteFixture(cluster.writer, mk);
    const before = get(mem.httpPort!, bw.sql);
    await until(async () => (await bw.running()) === 1, 20_000, `${mk} to run`);
    // The write goes through the proxy (either port), which invalidates what reads the table before answering it.
    await writeThrough(mem, writePort, bw.insert);
    expect(await bw.running()).toBe(1); // the first run is still going
    const after = await get(mem.httpPort!, bw.sql);
    expect([after.status, after.cache, countOf(after.body)]).toEqual([200, 'MISS', '4']);
    const first = await before;
    expect([first.status, countOf(first.body)]).toEqual([200, '3']);
    expect(await executions(mk)).toBe(2);
    // The run that predates the write was not stored over the new one.
    expect(countOf((await get(mem.httpPort!, bw.sql)).body)).toBe('4');
  }, 120_000);

  it('the leader leaving before the answer leaves its followers a correct answer (and the query is not killed)', async () => {
    const mk = `lead-gone-${randomUUID().slice(0, 8)}`;
    const sql = sleepQuery(mk, 1);
    const expected = await direct(sql);
    const logFrom = mem.output().length;
    const leader = new AbortController();
    const leading = fetch(url(mem.httpPort!, sql), { signal: leader.signal, headers: IDENTITY }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200)); // the leader's flight is running
    const followers = Array.from({ length: 5 }, () => get(mem.httpPort!, sql));
    await new Promise((r) => setTimeout(r, 200));
    leader.abort();
    expect(await leading).toMatchObject({ name: 'AbortError' });
    for (const a of await Promise.all(followers)) {
      expect([a.status, a.cache, a.cacheStatus]).toEqual([200, 'HIT', 'COALESCED']);
      expect(a.body.equals(expected)).toBe(true);
    }
    expect(await executions(mk)).toBe(1);
    expect(mem.output().slice(logFrom)).not.toContain('KILL QUERY'); // the shared query was not killed with its leader
    expect((await get(mem.httpPort!, sql)).cache).toBe('HIT'); // the shared run was stored
  }, 120_000);

  it('the leader leaving mid-answer: followers (one of them joining late) get the whole answer', async () => {
    const mk = `mid-${randomUUID().slice(0, 8)}`;
    const sql = streamedQuery(mk);
    const expected = await direct(sql, STREAMED_PARAMS);
    const leader = new AbortController();
    const leading = fetch(url(mem.httpPort!, sql, STREAMED_PARAMS), { signal: leader.signal, headers: IDENTITY });
    await new Promise((r) => setTimeout(r, 200));
    const early = Array.from({ length: 3 }, () => get(mem.httpPort!, sql, STREAMED_PARAMS)); // before the answer's head
    const res = await leading;
    expect(res.headers.get('x-cache')).toBe('MISS');
    const reader = res.body!.getReader();
    let got = 0;
    while (got < 500_000) got += (await reader.read()).value?.length ?? 0; // part of the answer arrived
    const late = get(mem.httpPort!, sql, STREAMED_PARAMS); // joins a flight that already streams
    await new Promise((r) => setTimeout(r, 50));
    leader.abort();
    for (const a of await Promise.all([...early, late])) {
      expect([a.status, a.cache, a.cacheStatus]).toEqual([200, 'HIT', 'COALESCED']);
      expect(a.body.length).toBe(expected.length);
      expect(a.body.equals(expected)).toBe(true);
    }
    expect(await executions(mk)).toBe(1);
  }, 120_000);

  it('a follower leaving does not affect the leader nor the other followers', async () => {
    const mk = `fol-gone-${randomUUID().slice(0, 8)}`;
    const sql = sleepQuery(mk, 1);
    const expected = await direct(sql);
    const leading = get(mem.httpPort!, sql);
    await new Promise((r) => setTimeout(r, 200));
    const quitter = new AbortController();
    const quitting = fetch(url(mem.httpPort!, sql), { signal: quitter.signal, headers: IDENTITY }).catch((e: unknown) => e);
    const stayer = get(mem.httpPort!, sql);
    await new Promise((r) => setTimeout(r, 200));
    quitter.abort();
    expect(await quitting).toMatchObject({ name: 'AbortError' });
    const [l, s] = await Promise.all([leading, stayer]);
    expect([l.status, l.cache, l.body.equals(expected)]).toEqual([200, 'MISS', true]);
    expect([s.status, s.cache, s.cacheStatus, s.body.equals(expected)]).toEqual([200, 'HIT', 'COALESCED', true]);
    expect(await executions(mk)).toBe(1);
  }, 120_000);

  it('the last client of a shared run leaving cuts it, and the query is killed on the backend', async () => {
    const mk = `all-gone-${randomUUID().slice(0, 8)}`;
    const sql = endlessQuery(mk);
    const running = () => runningOnWriter(mk);
    const logFrom = mem.output().length;
    const clients = [new AbortController(), new AbortController()];
    const requests = clients.map((c) => fetch(url(mem.httpPort!, sql), { signal: c.signal, headers: IDENTITY }).catch((e: unknown) => e));
    await until(async () => (await running()) === 1, 20_000, `${mk} to run on the backend`);
    clients[0]!.abort(); // the other client still reads it: it runs on
    await new Promise((r) => setTimeout(r, 500));
    expect(await running()).toBe(1);
    expect(mem.output().slice(logFrom)).not.toContain('KILL QUERY');
    clients[1]!.abort();
    for (const r of await Promise.all(requests)) expect(r).toMatchObject({ name: 'AbortError' });
    await until(async () => (await running()) === 0, 20_000, `${mk} to be killed`);
    await until(() => mem.output().slice(logFrom).includes('KILL QUERY sent for a cut request'), 10_000, 'the kill to be logged');
    expect(await executions(mk)).toBe(1);
  }, 120_000);

  it('an error answer is the leader\'s alone: followers run the query themselves and get the server\'s own error', async () => {
    const mk = `err-${randomUUID().slice(0, 8)}`;
    // throwIf runs after the sleep (it reads its result): a 500 about 0.5 s after the start.
    const sql = `SELECT sleep(0.5) AS s, throwIf(s = 0) AS t, '${mk}' AS m`;
    const answers = await Promise.all(Array.from({ length: 4 }, () => get(mem.httpPort!, sql)));
    for (const a of answers) {
      expect(a.status).toBe(500);
      expect(a.body.toString()).toMatch(/^Code: 395, /);
      expect(a.body.toString()).not.toContain('Gatehouse');
    }
    expect(await executions(mk)).toBe(4); // the leader's, then each follower's own
  }, 120_000);
});

describe('HTTP single-flight with proxy users', () => {
  it("the leader's query_timeout_ms cuts the shared run: the follower of another user runs the query itself", async () => {
    const mk = `timeout-${randomUUID().slice(0, 8)}`;
    const sql = sleepQuery(mk, 2);
    const expected = await direct(sql);
    const waits0 = await metric(users, 'gatehouse_cache_singleflight_waits_total', 'scope="process"');
    const leading = get(users.httpPort!, sql, {}, basic(SLOW));
    await new Promise((r) => setTimeout(r, 300));
    const following = get(users.httpPort!, sql, {}, basic(PATIENT)); // same backend identity: same key, joins
    const [l, f] = await Promise.all([leading, following]);
    expect(l.status).toBe(500);
    expect(l.body.toString()).toMatch(/^Code: 159, .*query_timeout_ms \(1000 ms\)/);
    expect([f.status, f.cache, f.cacheStatus, f.body.equals(expected)]).toEqual([200, 'MISS', 'MISS', true]);
    expect(await metric(users, 'gatehouse_cache_singleflight_waits_total', 'scope="process"')).toBe(waits0 + 1); // it did join
    expect(await executions(mk)).toBe(2); // the leader's (killed at its timeout), then the follower's own
    expect(users.output()).toContain('"cause":"query_timeout"');
  }, 120_000);
});

describe('HTTP single-flight across two instances sharing Redis', () => {
  it('concurrent misses on both instances run once', async () => {
    const mk = `redis-sf-${randomUUID().slice(0, 8)}`;
    const sql = sleepQuery(mk);
    const expected = await direct(sql);
    const cluster0 = (await metric(ra, 'gatehouse_cache_singleflight_waits_total', 'scope="cluster"')) + (await metric(rb, 'gatehouse_cache_singleflight_waits_total', 'scope="cluster"'));
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => get((i % 2 === 0 ? ra : rb).httpPort!, sql)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.equals(expected)).toBe(true);
    }
    expect(answers.filter((a) => a.cache === 'MISS')).toHaveLength(1);
    expect(await executions(mk)).toBe(1);
    // One instance ran it; the other one's leader waited on the lock, once.
    const cluster1 = (await metric(ra, 'gatehouse_cache_singleflight_waits_total', 'scope="cluster"')) + (await metric(rb, 'gatehouse_cache_singleflight_waits_total', 'scope="cluster"'));
    expect(cluster1 - cluster0).toBe(1);
    for (const g of [ra, rb]) expect((await get(g.httpPort!, sql)).cache).toBe('HIT');
  }, 120_000);

  it.each([
    ['http', 'join a run here', 'ra'],
    ['native', 'join a run here', 'ra'],
    ['http', 'follow the feed of a run on the other instance', 'rb'],
  ] as const)('a request sent after a write through the other instance (%s port) does not %s that started before it', async (writePort, _what, readVia) => {
    const mk = `ryw2-${randomUUID().slice(0, 8)}`;
    const bw = await beforeWriteFixture(cluster.writer, mk);
    const before = get(ra.httpPort!, bw.sql); // ra runs it and holds the key's lock
    await until(async () => (await bw.running()) === 1, 20_000, `${mk} to run`);
    // Through rb: ra sees no invalidation of its own, only the counters rb moved in Redis.
    await writeThrough(rb, writePort, bw.insert);
    expect(await bw.running()).toBe(1); // ra's run is still going
    // Read via ra: it checks the counters before joining. Via rb: the lock is ra's, whose feed starts with an older mark.
    const after = await get((readVia === 'ra' ? ra : rb).httpPort!, bw.sql);
    expect([after.status, after.cache, countOf(after.body)]).toEqual([200, 'MISS', '4']);
    expect(countOf((await before).body)).toBe('3');
    expect(await executions(mk)).toBe(2);
  }, 120_000);

  it("the other instance's clients get the answer live, while it streams, not after its end", async () => {
    const mk = `redis-live-${randomUUID().slice(0, 8)}`;
    const sql = streamedQuery(mk);
    const expected = await direct(sql, STREAMED_PARAMS);
    const t0 = Date.now();
    const leading = get(ra.httpPort!, sql, STREAMED_PARAMS).then((a) => ({ ...a, at: Date.now() - t0 }));
    await new Promise((r) => setTimeout(r, 200));
    const res = await fetch(url(rb.httpPort!, sql, STREAMED_PARAMS), { headers: IDENTITY });
    expect([res.status, res.headers.get('x-cache'), res.headers.get('x-cache-status')]).toEqual([200, 'HIT', 'COALESCED']);
    const reader = res.body!.getReader();
    const parts: Buffer[] = [];
    let got = 0;
    let firstMbAt = -1;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(Buffer.from(value));
      got += value.length;
      if (firstMbAt < 0 && got >= 1_000_000) firstMbAt = Date.now() - t0;
    }
    const lead = await leading;
    expect([lead.status, lead.cache, lead.body.equals(expected)]).toEqual([200, 'MISS', true]);
    expect(Buffer.concat(parts).equals(expected)).toBe(true);
    // The answer takes about 1.2 s (four blocks 0.3 s apart): the first megabyte reached the other instance's client
    // well before the leader's answer ended.
    expect(firstMbAt).toBeGreaterThan(0);
    expect(firstMbAt).toBeLessThan(lead.at - 300);
    expect(await executions(mk)).toBe(1);
  }, 120_000);

  it("the running instance's last client leaving mid-answer does not cut the other instance's client: the run goes on for it", async () => {
    const mk = `redis-runs-on-${randomUUID().slice(0, 8)}`;
    const kept0 = await metric(ra, 'gatehouse_cache_runs_kept_total');
    const sql = streamedQuery(mk);
    const expected = await direct(sql, STREAMED_PARAMS);
    const logFrom = ra.output().length;
    const leader = new AbortController();
    const leading = await fetch(url(ra.httpPort!, sql, STREAMED_PARAMS), { signal: leader.signal, headers: IDENTITY });
    const follower = await fetch(url(rb.httpPort!, sql, STREAMED_PARAMS), { headers: IDENTITY });
    expect(follower.headers.get('x-cache-status')).toBe('COALESCED');
    const reader = follower.body!.getReader();
    const parts: Buffer[] = [];
    let got = 0;
    const more = async (): Promise<boolean> => {
      const { done, value } = await reader.read();
      if (done) return false;
      parts.push(Buffer.from(value));
      got += value.length;
      return true;
    };
    while (got < 500_000 && (await more())); // part of the answer arrived here
    leader.abort(); // ra's only client leaves, while rb's client reads ra's feed
    void leading.body?.cancel().catch(() => undefined);
    while (await more());
    expect(Buffer.concat(parts).equals(expected)).toBe(true);
    expect(await executions(mk)).toBe(1);
    const log = ra.output().slice(logFrom);
    expect(log).toContain('runs on for clients of other instances reading its feed');
    expect(log).not.toContain('KILL QUERY');
    expect(await metric(ra, 'gatehouse_cache_runs_kept_total')).toBe(kept0 + 1);
  }, 120_000);

  it('with nobody reading its feed elsewhere, the running instance still cuts the run when its last client leaves', async () => {
    const mk = `redis-alone-${randomUUID().slice(0, 8)}`;
    const kept0 = await metric(ra, 'gatehouse_cache_runs_kept_total');
    const sql = endlessQuery(mk);
    const running = () => runningOnWriter(mk);
    const logFrom = ra.output().length;
    const client = new AbortController();
    const request = fetch(url(ra.httpPort!, sql), { signal: client.signal, headers: IDENTITY }).catch((e: unknown) => e);
    await until(async () => (await running()) === 1, 20_000, `${mk} to run on the backend`);
    client.abort();
    expect(await request).toMatchObject({ name: 'AbortError' });
    await until(async () => (await running()) === 0, 20_000, `${mk} to be killed`);
    await until(() => ra.output().slice(logFrom).includes('KILL QUERY sent for a cut request'), 10_000, 'the kill to be logged');
    expect(ra.output().slice(logFrom)).not.toContain('runs on for clients');
    expect(await metric(ra, 'gatehouse_cache_runs_kept_total')).toBe(kept0);
  }, 120_000);
});

describe('HTTP stale-while-revalidate', () => {
  it('past the soft TTL, hits answer at once from the stale entry while exactly one refresh runs; then the fresh one', async () => {
    const mk = `swr-${randomUUID().slice(0, 8)}`;
    const sql = `SELECT count() FROM default.hf WHERE '${mk}' != '' AND sleep(0.3) = 0`;
    expect((await get(swr.httpPort!, sql)).cache).toBe('MISS');
    const fresh = await get(swr.httpPort!, sql);
    expect([fresh.cache, fresh.cacheStatus, fresh.body.toString()]).toEqual(['HIT', 'HIT', '10\n']);
    // A write the proxy does not see (straight to the backend): only a refresh can bring the new count.
    await httpQuery(cluster.writer.httpPort, 'INSERT INTO default.hf VALUES (100)');
    const refreshes0 = await metric(swr, 'gatehouse_cache_refreshes_total');
    const stale0 = await metric(swr, 'gatehouse_cache_stale_served_total');
    await new Promise((r) => setTimeout(r, 1_200));
    const stale = await Promise.all(Array.from({ length: 5 }, () => get(swr.httpPort!, sql)));
    for (const a of stale) expect([a.status, a.cache, a.cacheStatus, a.body.toString()]).toEqual([200, 'HIT', 'STALE', '10\n']);
    let last: Answer | null = null;
    await until(async () => (last = await get(swr.httpPort!, sql)).body.toString() === '11\n', 20_000, 'the refreshed entry');
    expect([last!.cache, last!.cacheStatus]).toEqual(['HIT', 'HIT']);
    expect(await metric(swr, 'gatehouse_cache_refreshes_total')).toBe(refreshes0 + 1);
    expect(await metric(swr, 'gatehouse_cache_stale_served_total')).toBeGreaterThanOrEqual(stale0 + 5);
    expect(await executions(mk)).toBe(2); // the miss and the one refresh
  }, 120_000);
});
