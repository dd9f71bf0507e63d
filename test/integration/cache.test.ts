/**
 * Issue 5, in-memory store: the result cache through a `gatehouse serve` process in front of the real sandbox
 * cluster. What clickhouse-client prints from a cached answer is compared with a direct connection's output;
 * backend executions are counted in the readers' own system.query_log (the sandbox nodes get a query_log section,
 * and the queries that must be counted carry log_queries=1, a setting the cache key ignores).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PROXY_MAX_REVISION, ServerCode, type FramedPacket } from '../../src/protocol';
import { errorCodeOf, httpQuery, runClient, startSandboxCluster, type ClickHouseServer, type RunResult, type SandboxCluster, QUERY_LOG_XML } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { beforeWriteFixture, countOf } from '../helpers/before-write';
import { NativeClient } from '../helpers/native-client';
import { sampleValue, until } from '../helpers/poll';

/**
 * About half a second on the sandbox (2 cores), a 10-row answer. `mk` is a marker in a literal (comments are not part
 * of the cache key, literals are) so each test has its own entry and finds its runs in the query log.
 */
const heavy = (mk: string) =>
  `SELECT number % 10 AS g, count() AS c, sum(cityHash64(number, g)) AS h FROM numbers(70000000) WHERE '${mk}' != '' GROUP BY g ORDER BY g`;

let cluster: SandboxCluster;
let gh: Gatehouse;
let tmpDir: string;
const extra: Gatehouse[] = [];

const hostPort = (n: ClickHouseServer) => `127.0.0.1:${n.tcpPort}`;

function writeConfig(name: string, yaml: string): string {
  const file = path.join(tmpDir, name);
  fs.writeFileSync(file, yaml);
  return file;
}

function cacheConfig(cacheYaml: string): string {
  return [
    `writer: "${hostPort(cluster.writer)}"`,
    `readers: [${cluster.readers.map((r) => `"${hostPort(r)}"`).join(', ')}]`,
    'admin: "127.0.0.1:0"',
    'cache:',
    '  enabled: true',
    cacheYaml,
  ].join('\n');
}

async function client(port: number, sql: string, args: string[] = []): Promise<RunResult> {
  return runClient(port, [...args, '--query', sql], '');
}

async function ok(port: number, sql: string, args: string[] = []): Promise<string> {
  const res = await client(port, sql, args);
  if (res.code !== 0 || res.timedOut || errorCodeOf(res.stderr) !== null) throw new Error(`expected success of ${sql}\nexit ${res.code}\n${res.stderr}`);
  return res.stdout;
}

/** Output and the query time clickhouse-client measured itself (--time: from sending the query to its end). */
async function timed(port: number, sql: string, args: string[] = []): Promise<{ out: string; seconds: number }> {
  const res = await client(port, sql, ['--time', ...args]);
  if (res.code !== 0 || errorCodeOf(res.stderr) !== null) throw new Error(`expected success of ${sql}\n${res.stderr}`);
  const m = /(\d+\.\d+)\s*$/.exec(res.stderr.trim());
  if (!m) throw new Error(`no --time figure in stderr: ${res.stderr}`);
  return { out: res.stdout, seconds: Number(m[1]) };
}

/** One sample of a Prometheus metric (0 when absent); `labels` as written in the exposition, e.g. `reason="hint"`. */
async function metric(g: Gatehouse, name: string, labels = ''): Promise<number> {
  return sampleValue(await g.metrics(), name, labels);
}

/** How many times queries containing `marker` ran on the readers (their query_log, QueryFinish rows). */
async function executions(marker: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 1_000)); // one flush interval and then some
  let n = 0;
  for (const r of cluster.readers) {
    // system.query_log is created on a server's first flush: a reader that logged nothing has none.
    const exists = await httpQuery(r.httpPort, "SELECT count() FROM system.tables WHERE database = 'system' AND name = 'query_log'");
    if (exists.trim() === '0') continue;
    const out = await httpQuery(r.httpPort, `SELECT count() FROM system.query_log WHERE type = 2 AND query LIKE '%${marker}%' AND query NOT LIKE '%query_log%'`);
    n += Number(out.trim());
  }
  return n;
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cache-'));
  cluster = await startSandboxCluster({ extraConfigXml: QUERY_LOG_XML });
  for (const node of cluster.nodes) {
    await httpQuery(node.httpPort, 'CREATE TABLE IF NOT EXISTS default.items (id UInt64, name String, price Float64, tags Array(String), day Date) ENGINE = MergeTree ORDER BY id');
    await httpQuery(node.httpPort, "INSERT INTO default.items SELECT number, concat('item-', toString(number)), number * 1.5, [toString(number % 3), 'x'], toDate('2024-01-01') + number % 30 FROM numbers(5000)");
  }
  gh = await startGatehouse(['--config', writeConfig('memory.yaml', cacheConfig('  ttl_seconds: 60\n  max_entry_bytes: 1048576'))]);
}, 120_000);

afterAll(async () => {
  for (const g of extra) await g.stop();
  await gh?.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('result cache (memory store)', () => {
  it('answers a heavy query again byte-identically and at least 20 times faster, compression on and off', async () => {
    const mk = `heavy-${randomUUID().slice(0, 8)}`;
    const sql = heavy(mk);
    const direct = await ok(cluster.readers[0]!.tcpPort, sql);
    const log = ['--log_queries', '1'];
    const miss = await timed(gh.port, sql, log);
    const hitLz4 = await timed(gh.port, sql, log);
    const hitPlain = await timed(gh.port, sql, ['--compression', '0', ...log]);
    const hitZstd = await timed(gh.port, sql, ['--network_compression_method', 'zstd', ...log]);
    expect(miss.out).toBe(direct);
    for (const hit of [hitLz4, hitPlain, hitZstd]) expect(hit.out).toBe(direct);
    // --time prints 3 decimals: a hit under 0.5 ms shows as 0.000.
    const best = Math.max(hitLz4.seconds, hitPlain.seconds, hitZstd.seconds, 0.001);
    // eslint-disable-next-line no-console
    console.log(`heavy query: miss ${miss.seconds} s, hits ${hitLz4.seconds} / ${hitPlain.seconds} / ${hitZstd.seconds} s`);
    expect(miss.seconds / best).toBeGreaterThanOrEqual(20);
    expect(await executions(mk)).toBe(1); // the miss; the direct run above is not logged (no log_queries)
  }, 120_000);

  it('replays results of many types and blocks identically whatever compression recorded and replays them', async () => {
    const sql = "SELECT id, name, price, tags, day, toDecimal32(price, 2) AS d, (id, name) AS t, if(id % 2 = 0, NULL, name) AS n FROM default.items ORDER BY id SETTINGS max_block_size = 1000";
    const direct = await ok(cluster.readers[0]!.tcpPort, sql, ['--format', 'TSV']);
    const first = await ok(gh.port, sql, ['--format', 'TSV', '--network_compression_method', 'zstd']);
    const hitsBefore = await metric(gh, 'gatehouse_cache_hits_total');
    const plain = await ok(gh.port, sql, ['--format', 'TSV', '--compression', '0']);
    const lz4 = await ok(gh.port, sql, ['--format', 'TSV']);
    const pretty = await ok(gh.port, sql, ['--format', 'PrettyCompactMonoBlock', '--compression', '0']);
    expect(first).toBe(direct);
    expect(plain).toBe(direct);
    expect(lz4).toBe(direct);
    expect(pretty).toBe(await ok(cluster.readers[1]!.tcpPort, sql, ['--format', 'PrettyCompactMonoBlock']));
    expect(await metric(gh, 'gatehouse_cache_hits_total')).toBe(hitsBefore + 3);
  }, 60_000);

  it('shares one entry between queries that normalize the same, and keeps literals apart', async () => {
    const hits = () => metric(gh, 'gatehouse_cache_hits_total');
    await ok(gh.port, 'SELECT count() FROM default.items WHERE id < 100');
    const h0 = await hits();
    expect(await ok(gh.port, 'select   count()\nFROM default.items /* a comment */ WHERE id < 100')).toBe('100\n');
    expect(await hits()).toBe(h0 + 1);
    expect(await ok(gh.port, 'SELECT count() FROM default.items WHERE id < 200')).toBe('200\n');
    expect(await hits()).toBe(h0 + 1);
    expect(await ok(gh.port, "SELECT count() FROM default.items WHERE name = 'item-1'")).toBe('1\n');
    expect(await ok(gh.port, "SELECT count() FROM default.items WHERE name = 'ITEM-1'")).toBe('0\n');
  }, 60_000);

  it('never caches non-deterministic queries, system tables, or what a hint excludes', async () => {
    const bypass = (reason: string) => metric(gh, 'gatehouse_cache_bypass_total', `reason="${reason}"`);
    const before = { nd: await bypass('nondeterministic'), sys: await bypass('system_tables'), hint: await bypass('hint') };
    const hits0 = await metric(gh, 'gatehouse_cache_hits_total');
    for (let i = 0; i < 2; i++) {
      await ok(gh.port, 'SELECT count() FROM default.items WHERE id > rand() % 10');
      await ok(gh.port, 'SELECT count() FROM system.databases');
      await ok(gh.port, 'SELECT /* gatehouse: no_cache */ count() FROM default.items WHERE id > 7');
    }
    expect(await bypass('nondeterministic')).toBe(before.nd + 2);
    expect(await bypass('system_tables')).toBe(before.sys + 2);
    expect(await bypass('hint')).toBe(before.hint + 2);
    expect(await metric(gh, 'gatehouse_cache_hits_total')).toBe(hits0);
  }, 60_000);

  it('expires an entry after the TTL a hint gives it', async () => {
    const sql = 'SELECT /* gatehouse: cache_ttl=1 */ count() FROM default.items WHERE id > 11';
    const hits = () => metric(gh, 'gatehouse_cache_hits_total');
    await ok(gh.port, sql);
    const h0 = await hits();
    await ok(gh.port, sql);
    expect(await hits()).toBe(h0 + 1);
    await new Promise((r) => setTimeout(r, 1_300));
    await ok(gh.port, sql);
    expect(await hits()).toBe(h0 + 1);
  }, 30_000);

  it('streams a result over the entry cap in full without caching it', async () => {
    const sql = 'SELECT number, toString(number) FROM numbers(300000)'; // ~4 MB > 1 MiB cap
    const direct = await ok(cluster.readers[0]!.tcpPort, sql);
    const tooLarge = await metric(gh, 'gatehouse_cache_bypass_total', 'reason="too_large"');
    const hits0 = await metric(gh, 'gatehouse_cache_hits_total');
    expect(await ok(gh.port, sql)).toBe(direct);
    expect(await ok(gh.port, sql)).toBe(direct);
    expect(await metric(gh, 'gatehouse_cache_hits_total')).toBe(hits0);
    expect(await metric(gh, 'gatehouse_cache_bypass_total', 'reason="too_large"')).toBe(tooLarge + 2);
  }, 60_000);

  it('invalidates a cached read when the proxy sees a write to its table', async () => {
    await ok(gh.port, 'CREATE TABLE IF NOT EXISTS default.inv (x UInt32) ENGINE = MergeTree ORDER BY x');
    for (const r of cluster.readers) await httpQuery(r.httpPort, 'CREATE TABLE IF NOT EXISTS default.inv (x UInt32) ENGINE = MergeTree ORDER BY x');
    // Readers are separate servers (no replication here): what they return is fixed, so the proof is the miss.
    const sql = 'SELECT count() FROM default.inv';
    await ok(gh.port, sql);
    const hits0 = await metric(gh, 'gatehouse_cache_hits_total');
    await ok(gh.port, sql);
    expect(await metric(gh, 'gatehouse_cache_hits_total')).toBe(hits0 + 1);
    const inv0 = await metric(gh, 'gatehouse_cache_invalidations_total');
    await ok(gh.port, 'INSERT INTO default.inv VALUES (1), (2)');
    expect(await metric(gh, 'gatehouse_cache_invalidations_total')).toBeGreaterThan(inv0);
    await ok(gh.port, sql);
    expect(await metric(gh, 'gatehouse_cache_hits_total')).toBe(hits0 + 1);
  }, 60_000);

  it('never answers a session with temporary tables from the cache (they can shadow a cached table)', async () => {
    expect(await ok(gh.port, 'SELECT count() FROM items')).toBe('5000\n');
    expect(await ok(gh.port, 'SELECT count() FROM items')).toBe('5000\n'); // cached for unpinned sessions
    const pinned0 = await metric(gh, 'gatehouse_cache_bypass_total', 'reason="pinned"');
    // (18.16's client reads the rest of a --multiquery script as INSERT data after VALUES: no INSERT here.)
    const out = await ok(gh.port, 'CREATE TEMPORARY TABLE items (id UInt64); SELECT count() FROM items', ['--multiquery']);
    expect(out).toBe('0\n');
    expect(await metric(gh, 'gatehouse_cache_bypass_total', 'reason="pinned"')).toBe(pinned0 + 1);
  }, 60_000);

  it('runs 50 identical concurrent misses once on the backends; every client gets the whole result', async () => {
    const mk = `sf-${randomUUID().slice(0, 8)}`;
    const sql = heavy(mk);
    const expected = await ok(cluster.readers[0]!.tcpPort, sql, ['--format', 'TSV']);
    const clients = await Promise.all(Array.from({ length: 50 }, () => NativeClient.open(gh.port)));
    try {
      for (const c of clients) c.hello(PROXY_MAX_REVISION);
      for (const c of clients) {
        const p = await c.next();
        expect(p?.code).toBe(ServerCode.Hello);
        c.addendumIfNeeded();
      }
      const waits0 = await metric(gh, 'gatehouse_cache_singleflight_waits_total', 'scope="process"');
      for (const c of clients) c.query(sql, [{ name: 'log_queries', value: '1', flags: 0 }]);
      const results = await Promise.all(clients.map((c) => c.untilEnd(60_000)));
      const rowCounts = results.map((packets) => dataRows(packets));
      expect(new Set(rowCounts)).toEqual(new Set([rows(expected)]));
      for (const packets of results) expect(packets.at(-1)!.code).toBe(ServerCode.EndOfStream);
      expect(await metric(gh, 'gatehouse_cache_singleflight_waits_total', 'scope="process"')).toBe(waits0 + 49);
      expect(await executions(mk)).toBe(1);
    } finally {
      for (const c of clients) c.close();
    }
  }, 120_000);

  it('a query sent after a write to a table it reads does not join an execution that started before the write', async () => {
    // Reads go to the writer here, so the answer shows whether it contains the write.
    const g = await startGatehouse(['--config', writeConfig('ryw-flight.yaml', [`writer: "${hostPort(cluster.writer)}"`, 'admin: "127.0.0.1:0"', 'cache:', '  enabled: true'].join('\n'))]);
    extra.push(g);
    const mk = `ryw${randomUUID().slice(0, 8)}`;
    const bw = await beforeWriteFixture(cluster.writer, mk);
    const before = ok(g.port, bw.sql);
    await until(async () => (await bw.running()) === 1, 20_000, `${mk} to run`);
    await ok(g.port, bw.insert);
    expect(await bw.running()).toBe(1); // the first execution is still going
    const waits0 = await metric(g, 'gatehouse_cache_singleflight_waits_total', 'scope="process"');
    expect(countOf(await ok(g.port, bw.sql))).toBe('4');
    expect(countOf(await before)).toBe('3');
    expect(await metric(g, 'gatehouse_cache_singleflight_waits_total', 'scope="process"')).toBe(waits0);
  }, 60_000);

  it('serves a stale entry after the soft TTL and refreshes it once in the background', async () => {
    const swr = await startGatehouse(['--config', writeConfig('swr.yaml', cacheConfig('  ttl_seconds: 60\n  soft_ttl_seconds: 1'))]);
    extra.push(swr);
    const mk = `swr-${randomUUID().slice(0, 8)}`;
    const sql = `SELECT count() FROM default.items WHERE id > 3 AND name != '${mk}'`;
    const args = ['--log_queries', '1'];
    expect(await ok(swr.port, sql, args)).toBe('4996\n');
    expect(await ok(swr.port, sql, args)).toBe('4996\n'); // fresh hit
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await ok(swr.port, sql, args)).toBe('4996\n'); // stale: served, one refresh starts
    expect(await ok(swr.port, sql, args)).toBe('4996\n');
    expect(await metric(swr, 'gatehouse_cache_stale_served_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(swr, 'gatehouse_cache_refreshes_total')).toBe(1);
    expect(await metric(swr, 'gatehouse_cache_hits_total')).toBe(3);
    expect(await executions(mk)).toBe(2); // the first miss and the one refresh
  }, 60_000);

  it('keeps serving when a client of a shared execution goes away mid-result', async () => {
    const mk = `leave-${randomUUID().slice(0, 8)}`;
    const sql = heavy(mk);
    const [a, b] = await Promise.all([NativeClient.open(gh.port), NativeClient.open(gh.port)]);
    try {
      for (const c of [a, b]) {
        c.hello(PROXY_MAX_REVISION);
        expect((await c.next())?.code).toBe(ServerCode.Hello);
        c.addendumIfNeeded();
      }
      const waits0 = await metric(gh, 'gatehouse_cache_singleflight_waits_total', 'scope="process"');
      a.query(sql);
      await new Promise((r) => setTimeout(r, 50));
      b.query(sql);
      await new Promise((r) => setTimeout(r, 100));
      a.close(); // the leader's client leaves; the follower still gets everything
      const packets = await b.untilEnd(60_000);
      expect(packets.at(-1)!.code).toBe(ServerCode.EndOfStream);
      expect(dataRows(packets)).toBe(10);
      expect(await metric(gh, 'gatehouse_cache_singleflight_waits_total', 'scope="process"')).toBe(waits0 + 1);
      expect(await metric(gh, 'gatehouse_cache_stores_total')).toBeGreaterThan(0);
    } finally {
      a.close();
      b.close();
    }
  }, 60_000);
});

function rows(tsv: string): number {
  return tsv.trim().split('\n').filter((l) => l.length > 0).length;
}

function dataRows(packets: FramedPacket[]): number {
  let n = 0;
  for (const p of packets) if (p.code === ServerCode.Data && p.block) n += p.block.rows;
  return n;
}
