/**
 * Issue 5, Redis store: several `gatehouse serve` processes sharing one real redis-server in front of the real
 * sandbox cluster. Invalidation across instances is proven with data: the proxies here have no readers, so reads and
 * writes meet on the writer and a stale cached count would show.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PROXY_MAX_REVISION, ServerCode, type FramedPacket } from '../../src/protocol';
import {
  errorCodeOf,
  httpQuery,
  runClient,
  startRedis,
  startSandboxCluster,
  type ClickHouseServer,
  type RedisServer,
  type SandboxCluster,
  QUERY_LOG_XML,
} from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { beforeWriteFixture, countOf } from '../helpers/before-write';
import { NativeClient } from '../helpers/native-client';
import { sampleValue, until } from '../helpers/poll';
import { startRedisCluster } from '../helpers/redis-cluster';
import { runProcess } from '../helpers/process';
import { makeTestCerts } from '../helpers/certs';

let cluster: SandboxCluster;
let redis: RedisServer;
let tmpDir: string;
let a: Gatehouse;
let b: Gatehouse;

const hostPort = (n: ClickHouseServer) => `127.0.0.1:${n.tcpPort}`;

const READ_MARK_MS = 2_500;

function config(name: string): string {
  const file = path.join(tmpDir, name);
  fs.writeFileSync(
    file,
    [
      `writer: "${hostPort(cluster.writer)}"`,
      'admin: "127.0.0.1:0"',
      'cache:',
      '  enabled: true',
      '  ttl_seconds: 300',
      '  lock_timeout_ms: 10000',
      // A read mark shorter than the default 5 s, to see the setting reach the feed (below).
      `  redis: { url: "redis://127.0.0.1:${redis.port}", command_timeout_ms: 200, feed_read_mark_ms: ${READ_MARK_MS} }`,
    ].join('\n'),
  );
  return file;
}

/** A config with the cache on a Redis Cluster whose nodes listen on `ports`; `redisKeys` adds to its redis section. */
function clusterConfig(name: string, ports: readonly number[], redisKeys = ''): string {
  const file = path.join(tmpDir, name);
  const nodes = ports.map((p) => `"127.0.0.1:${p}"`).join(', ');
  const redisSection = `  redis: { cluster: true, nodes: [${nodes}]${redisKeys === '' ? '' : `, ${redisKeys}`} }`;
  fs.writeFileSync(file, [`writer: "${hostPort(cluster.writer)}"`, 'admin: "127.0.0.1:0"', 'cache:', '  enabled: true', redisSection].join('\n'));
  return file;
}

async function ok(port: number, sql: string, args: string[] = []): Promise<string> {
  const res = await runClient(port, [...args, '--query', sql], '');
  if (res.code !== 0 || res.timedOut || errorCodeOf(res.stderr) !== null) throw new Error(`expected success of ${sql}\nexit ${res.code}\n${res.stderr}`);
  return res.stdout;
}

async function metric(g: Gatehouse, name: string, labels = ''): Promise<number> {
  return sampleValue(await g.metrics(), name, labels);
}

/** Runs of queries containing `marker` on the writer (its query_log). */
async function executions(marker: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 1_000));
  const w = cluster.writer;
  const exists = await httpQuery(w.httpPort, "SELECT count() FROM system.tables WHERE database = 'system' AND name = 'query_log'");
  if (exists.trim() === '0') return 0;
  const out = await httpQuery(w.httpPort, `SELECT count() FROM system.query_log WHERE type = 2 AND query LIKE '%${marker}%' AND query NOT LIKE '%query_log%'`);
  return Number(out.trim());
}

async function openClients(port: number, n: number): Promise<NativeClient[]> {
  const clients = await Promise.all(Array.from({ length: n }, () => NativeClient.open(port)));
  for (const c of clients) c.hello(PROXY_MAX_REVISION);
  for (const c of clients) {
    expect((await c.next())?.code).toBe(ServerCode.Hello);
    c.addendumIfNeeded();
  }
  return clients;
}

const rowsOf = (packets: FramedPacket[]) => packets.reduce((n, p) => n + (p.code === ServerCode.Data && p.block ? p.block.rows : 0), 0);

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cache-redis-'));
  [cluster, redis] = await Promise.all([startSandboxCluster({ readers: 0, extraConfigXml: QUERY_LOG_XML }), startRedis()]);
  await httpQuery(cluster.writer.httpPort, 'CREATE TABLE default.shared (x UInt32) ENGINE = MergeTree ORDER BY x');
  await httpQuery(cluster.writer.httpPort, 'INSERT INTO default.shared SELECT number FROM numbers(10)');
  [a, b] = await Promise.all([startGatehouse(['--config', config('a.yaml')]), startGatehouse(['--config', config('b.yaml')])]);
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await redis?.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('result cache (Redis store, two proxy instances)', () => {
  it('shares entries: what one instance stored, the other serves byte-identically, compression on and off', async () => {
    const sql = "SELECT x, toString(x) AS s, [x, x * 2] AS arr FROM default.shared WHERE 'share' != '' ORDER BY x";
    const direct = await ok(cluster.writer.tcpPort, sql);
    expect(await ok(a.port, sql)).toBe(direct);
    const hits = await metric(b, 'gatehouse_cache_hits_total');
    expect(await ok(b.port, sql, ['--compression', '0'])).toBe(direct);
    expect(await ok(b.port, sql)).toBe(direct);
    expect(await metric(b, 'gatehouse_cache_hits_total')).toBe(hits + 2);
  }, 60_000);

  it('an INSERT through one instance invalidates the cached read on the other', async () => {
    const sql = "SELECT count() FROM default.shared WHERE 'inv' != ''";
    const before = await ok(b.port, sql);
    expect(await ok(b.port, sql)).toBe(before); // now cached in Redis
    await ok(a.port, 'INSERT INTO default.shared VALUES (100), (101)');
    expect(Number(await ok(b.port, sql))).toBe(Number(before) + 2);
    expect(await metric(a, 'gatehouse_cache_invalidations_total')).toBeGreaterThan(0);
  }, 60_000);

  it('identical misses on two instances run once: the second instance waits for the first one\'s result', async () => {
    const mk = `xsf-${randomUUID().slice(0, 8)}`;
    const sql = `SELECT number % 10 AS g, sum(cityHash64(number, g)) FROM numbers(50000000) WHERE '${mk}' != '' GROUP BY g ORDER BY g`;
    const [ca, cb] = [await openClients(a.port, 5), await openClients(b.port, 5)];
    try {
      const log = [{ name: 'log_queries', value: '1', flags: 0 }];
      for (const c of ca) c.query(sql, log);
      await new Promise((r) => setTimeout(r, 100)); // a's lock is taken first
      for (const c of cb) c.query(sql, log);
      const results = await Promise.all([...ca, ...cb].map((c) => c.untilEnd(60_000)));
      for (const packets of results) {
        expect(packets.at(-1)!.code).toBe(ServerCode.EndOfStream);
        expect(rowsOf(packets)).toBe(10);
      }
      expect(await metric(b, 'gatehouse_cache_singleflight_waits_total', 'scope="cluster"')).toBe(1);
      expect(await executions(mk)).toBe(1);
    } finally {
      for (const c of [...ca, ...cb]) c.close();
    }
  }, 60_000);

  it('a client on another instance gets the shared result as it streams, not after it ends', async () => {
    const mk = `xstream-${randomUUID().slice(0, 8)}`;
    // One row per block, 0.4 s apart (max_block_size 1, sleep per block): about 1.6 s in all.
    const sql = `SELECT number, sleep(0.4) FROM numbers(4) WHERE '${mk}' != ''`;
    const [ca] = await openClients(a.port, 1);
    const [cb] = await openClients(b.port, 1);
    try {
      const log = [
        { name: 'log_queries', value: '1', flags: 0 },
        { name: 'max_block_size', value: '1', flags: 0 },
      ];
      const waits0 = await metric(b, 'gatehouse_cache_singleflight_waits_total', 'scope="cluster"');
      const t0 = Date.now();
      ca!.query(sql, log);
      await new Promise((r) => setTimeout(r, 100));
      cb!.query(sql, log);
      let firstRowsAt = 0;
      let rows = 0;
      for (;;) {
        const p = await cb!.next(30_000);
        if (p === null) throw new Error('connection closed');
        if (p.code === ServerCode.Data && p.block && p.block.rows > 0) {
          rows += p.block.rows;
          if (firstRowsAt === 0) firstRowsAt = Date.now() - t0;
        }
        if (p.code === ServerCode.EndOfStream || p.code === ServerCode.Exception) {
          expect(p.code).toBe(ServerCode.EndOfStream);
          break;
        }
      }
      const endAt = Date.now() - t0;
      const aPackets = await ca!.untilEnd(30_000);
      expect(rowsOf(aPackets)).toBe(4);
      expect(rows).toBe(4);
      expect(endAt - firstRowsAt).toBeGreaterThan(500); // the first rows came long before the end
      expect(await metric(b, 'gatehouse_cache_singleflight_waits_total', 'scope="cluster"')).toBe(waits0 + 1);
      expect(await executions(mk)).toBe(1);
    } finally {
      ca!.close();
      cb!.close();
    }
  }, 60_000);

  it("the running instance's last client leaving mid-result does not cut the other instance's client: the run goes on for it", async () => {
    const mk = `xrunson-${randomUUID().slice(0, 8)}`;
    const kept0 = await metric(a, 'gatehouse_cache_runs_kept_total');
    const sql = `SELECT number, sleep(0.4) FROM numbers(4) WHERE '${mk}' != ''`;
    const settings = [
      { name: 'log_queries', value: '1', flags: 0 },
      { name: 'max_block_size', value: '1', flags: 0 },
    ];
    const logFrom = a.output().length;
    const [ca] = await openClients(a.port, 1);
    const [cb] = await openClients(b.port, 1);
    try {
      ca!.query(sql, settings);
      await new Promise((r) => setTimeout(r, 100));
      cb!.query(sql, settings);
      let rows = 0;
      let last: FramedPacket | null = null;
      for (;;) {
        const p = await cb!.next(30_000);
        if (p === null) throw new Error('connection closed');
        if (p.code === ServerCode.Data && p.block && p.block.rows > 0) {
          rows += p.block.rows;
          if (rows === 1) ca!.close(); // a's only client leaves after the first row, while b's client reads a's feed
        }
        if (p.code === ServerCode.EndOfStream || p.code === ServerCode.Exception) {
          last = p;
          break;
        }
      }
      expect(last?.code).toBe(ServerCode.EndOfStream);
      expect(rows).toBe(4);
      expect(await executions(mk)).toBe(1);
      expect(a.output().slice(logFrom)).toContain('runs on for clients of other instances reading its feed');
      expect(await metric(a, 'gatehouse_cache_runs_kept_total')).toBe(kept0 + 1);
      // b's reads marked the feed for cache.redis.feed_read_mark_ms, not the default.
      const marks = (await runProcess('redis-cli', '/usr/bin/redis-cli', ['-p', String(redis.port), '--scan', '--pattern', 'gatehouse:r:*'], { timeoutMs: 5_000 })).stdout
        .split('\n')
        .filter((k) => k !== '');
      expect(marks.length).toBeGreaterThanOrEqual(1);
      for (const k of marks) {
        const pttl = Number((await runProcess('redis-cli', '/usr/bin/redis-cli', ['-p', String(redis.port), 'pttl', k], { timeoutMs: 5_000 })).stdout.trim());
        expect(pttl).toBeLessThanOrEqual(READ_MARK_MS);
      }
    } finally {
      ca!.close();
      cb!.close();
    }
  }, 60_000);

  it('after a write, a second instance never follows the feed of the execution from before the write', async () => {
    const sql = "SELECT count() FROM default.shared WHERE 'feedinv' != '' AND sleep(0.3) = 0";
    const both = async (): Promise<string[]> => {
      const pa = ok(a.port, sql);
      await new Promise((r) => setTimeout(r, 60));
      return Promise.all([pa, ok(b.port, sql)]);
    };
    const [a1, b1] = await both();
    expect(b1).toBe(a1);
    await ok(a.port, 'INSERT INTO default.shared VALUES (5000)');
    const [a2, b2] = await both();
    expect(Number(a2)).toBe(Number(a1) + 1);
    expect(b2).toBe(a2);
  }, 60_000);

  it.each([
    ['join an execution here', 'a'],
    ['follow the feed of an execution on the other instance', 'b'],
  ] as const)('a query sent after a write through the other instance does not %s that started before it', async (_what, readVia) => {
    const mk = `ryw${randomUUID().slice(0, 8)}`;
    const bw = await beforeWriteFixture(cluster.writer, mk);
    const before = ok(a.port, bw.sql); // a runs it and holds the key's lock
    await until(async () => (await bw.running()) === 1, 20_000, `${mk} to run`);
    // Through b: a sees no invalidation of its own, only the counters b moved in Redis.
    await ok(b.port, bw.insert);
    expect(await bw.running()).toBe(1); // a's execution is still going
    // Read via a: it checks the counters before joining. Via b: the lock is a's, whose feed starts with an older mark.
    expect(countOf(await ok((readVia === 'a' ? a : b).port, bw.sql))).toBe('4');
    expect(countOf(await before)).toBe('3');
  }, 60_000);

  it('bypasses the cache with no client error while Redis is down, and uses it again once Redis is back', async () => {
    const sql = "SELECT sum(x) FROM default.shared WHERE 'down' != ''";
    const expected = await ok(cluster.writer.tcpPort, sql);
    const port = redis.port;
    let stop = false;
    let errors = 0;
    let answers = 0;
    const loop = (async () => {
      const [c] = await openClients(a.port, 1);
      try {
        while (!stop) {
          c!.query(sql);
          const packets = await c!.untilEnd(10_000);
          if (packets.at(-1)!.code !== ServerCode.EndOfStream) errors++;
          else answers++;
        }
      } finally {
        c!.close();
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    await redis.stop();
    await new Promise((r) => setTimeout(r, 1_500));
    const downBypasses =
      (await metric(a, 'gatehouse_cache_bypass_total', 'reason="store_down"')) + (await metric(a, 'gatehouse_cache_bypass_total', 'reason="store_timeout"'));
    expect(downBypasses).toBeGreaterThan(0);
    expect(await metric(a, 'gatehouse_cache_store_up')).toBe(0);
    redis = await startRedis({ port });
    // The store reconnects by itself; the next stored entry is served again.
    const deadline = Date.now() + 15_000;
    const hits0 = await metric(a, 'gatehouse_cache_hits_total');
    while ((await metric(a, 'gatehouse_cache_hits_total')) < hits0 + 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await loop;
    expect(errors).toBe(0);
    expect(answers).toBeGreaterThan(10);
    expect(await metric(a, 'gatehouse_cache_hits_total')).toBeGreaterThanOrEqual(hits0 + 3);
    expect(await metric(a, 'gatehouse_cache_store_up')).toBe(1);
    expect(await ok(a.port, sql)).toBe(expected);
  }, 60_000);

  it('works on Redis Cluster too (cache.redis.cluster with seed nodes), and from the --redis flag', async () => {
    const rc = await startRedisCluster(3);
    const c = await startGatehouse(['--config', clusterConfig('cluster.yaml', rc.ports)]);
    // A second instance configured by flags only, on the standalone Redis: the flag turns the cache on.
    const f = await startGatehouse(['--writer', hostPort(cluster.writer), '--admin', '127.0.0.1:0', '--redis', `redis://127.0.0.1:${redis.port}`, '--cache-ttl', '30']);
    try {
      for (const g of [c, f]) {
        const sql = "SELECT count(), sum(x) FROM default.shared WHERE 'cluster' != ''";
        const first = await ok(g.port, sql);
        expect(await ok(g.port, sql)).toBe(first);
        expect(await metric(g, 'gatehouse_cache_hits_total')).toBe(1);
        expect(await metric(g, 'gatehouse_cache_stores_total')).toBe(1);
        await ok(g.port, 'INSERT INTO default.shared VALUES (7)');
        expect(await ok(g.port, sql)).not.toBe(first);
        expect(await metric(g, 'gatehouse_cache_hits_total')).toBe(1);
      }
    } finally {
      await c.stop();
      await f.stop();
      await rc.stop();
    }
  }, 90_000);

  it('authenticates to a Redis Cluster with a password (password_env, with a user name); a wrong one only bypasses the cache', async () => {
    // Characters a URL would otherwise split on: the seeds carry the password encoded.
    const password = 'cl pass:@/#1';
    const rc = await startRedisCluster(3, { password });
    const good = await startGatehouse(['--config', clusterConfig('auth.yaml', rc.ports, 'username: default, password_env: GH_TEST_REDIS_PASSWORD')], 15_000, {
      GH_TEST_REDIS_PASSWORD: password,
    });
    const wrong = await startGatehouse(['--config', clusterConfig('wrong.yaml', rc.ports, 'password: "not the password"')]);
    try {
      const sql = "SELECT count(), sum(x) FROM default.shared WHERE 'cluster auth' != ''";
      const first = await ok(good.port, sql);
      expect(await ok(good.port, sql)).toBe(first);
      expect(await metric(good, 'gatehouse_cache_store_up')).toBe(1);
      expect(await metric(good, 'gatehouse_cache_hits_total')).toBe(1);
      expect(await metric(good, 'gatehouse_cache_stores_total')).toBe(1);
      // The entry is in the cluster, written with the password (a client without it is refused by the nodes).
      const keys = await Promise.all(
        rc.ports.map((p) => runProcess('redis-cli', '/usr/bin/redis-cli', ['-a', password, '--no-auth-warning', '-p', String(p), '--scan', '--pattern', 'gatehouse:*'], { timeoutMs: 5_000 })),
      );
      expect(keys.map((k) => k.stdout).join('').trim()).not.toBe('');
      const refused = await runProcess('redis-cli', '/usr/bin/redis-cli', ['-p', String(rc.ports[0]), 'dbsize'], { timeoutMs: 5_000 });
      expect(refused.stdout + refused.stderr).toMatch(/NOAUTH/);

      // A wrong password: the store never comes up, every query still answers, from ClickHouse.
      expect(await ok(wrong.port, sql)).toBe(first);
      expect(await ok(wrong.port, sql)).toBe(first);
      expect(await metric(wrong, 'gatehouse_cache_store_up')).toBe(0);
      expect(await metric(wrong, 'gatehouse_cache_hits_total')).toBe(0);
      expect(await metric(wrong, 'gatehouse_cache_bypass_total', 'reason="store_down"')).toBeGreaterThanOrEqual(2);
      // Neither password appears in what the proxies print.
      for (const g of [good, wrong]) {
        expect(g.output()).not.toContain(password);
        expect(g.output()).not.toContain('not the password');
      }
    } finally {
      await good.stop();
      await wrong.stop();
      await rc.stop();
    }
  }, 90_000);

  it('speaks TLS to a TLS-only Redis Cluster (tls: true, the private CA trusted through NODE_EXTRA_CA_CERTS)', async () => {
    const certs = makeTestCerts();
    const rc = await startRedisCluster(3, { password: 'tls-pass', tls: certs });
    const f = clusterConfig('tls-cluster.yaml', rc.ports, 'password: "tls-pass", tls: true');
    const g = await startGatehouse(['--config', f], 15_000, { NODE_EXTRA_CA_CERTS: certs.caCert });
    // Without the CA the nodes' certificates are not trusted: the store stays down and queries bypass it.
    const untrusting = await startGatehouse(['--config', f]);
    try {
      const sql = "SELECT count(), sum(x) FROM default.shared WHERE 'cluster tls' != ''";
      const first = await ok(g.port, sql);
      expect(await ok(g.port, sql)).toBe(first);
      expect(await metric(g, 'gatehouse_cache_store_up')).toBe(1);
      expect(await metric(g, 'gatehouse_cache_hits_total')).toBe(1);
      expect(await ok(untrusting.port, sql)).toBe(first);
      expect(await metric(untrusting, 'gatehouse_cache_store_up')).toBe(0);
      expect(await metric(untrusting, 'gatehouse_cache_hits_total')).toBe(0);
    } finally {
      await g.stop();
      await untrusting.stop();
      await rc.stop();
      certs.remove();
    }
  }, 90_000);
});
