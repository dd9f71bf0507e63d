/**
 * Two faults docs/reliability.md listed as not covered: a reader that accepts TCP connections and never answers the
 * Hello (a hung process, a black-holed port forward), and Redis paused (SIGSTOP) rather than killed. Real ClickHouse
 * 18.16 and a real redis-server; the silent reader is a plain TCP listener that accepts and says nothing.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorCodeOf, httpQuery, runClient, startRedis, startSandboxCluster, type RedisServer, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { sampleValue } from '../helpers/poll';

const APP = { name: 'app', password: 'app_pw' } as const;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let cluster: SandboxCluster;
let redis: RedisServer;
let tmpDir: string;
let silent: net.Server;
let silentPort = 0;
const accepted: net.Socket[] = [];
const proxies: Gatehouse[] = [];

function configFile(name: string, lines: string[]): string {
  const file = path.join(tmpDir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      `writer: "127.0.0.1:${cluster.writer.tcpPort}"`,
      'users:',
      `  - { name: ${APP.name}, password_sha256_hex: ${sha(APP.password)} }`,
      `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
      `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
      'admin: "127.0.0.1:0"',
      ...lines,
    ].join('\n'),
  );
  return file;
}

const httpQueryWriter = (sql: string) => httpQuery(cluster.writer.httpPort, sql);

async function node(port: number): Promise<{ name: string; ms: number; code: number | null }> {
  const t0 = Date.now();
  const res = await runClient(port, ['--user', APP.name, '--password', APP.password, '--query', 'SELECT name FROM gatehouse_meta.node'], '');
  return { name: res.stdout.trim(), ms: Date.now() - t0, code: errorCodeOf(res.stderr) };
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-silent-'));
  [cluster, redis] = await Promise.all([startSandboxCluster({ readers: 1 }), startRedis()]);
  silent = net.createServer((s) => accepted.push(s.on('error', () => undefined)));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as net.AddressInfo).port;
}, 120_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  accepted.forEach((s) => s.destroy());
  await new Promise((r) => silent?.close(r));
  await redis?.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('a reader that accepts TCP and never answers the Hello', () => {
  it('reads are answered by the healthy nodes within the connect timeout, and the silent reader is banned', async () => {
    const gh = await startGatehouse([
      '--config',
      configFile('silent-reader', [
        `readers: [{ address: "127.0.0.1:${cluster.readers[0]!.tcpPort}", name: reader1 }, { address: "127.0.0.1:${silentPort}", name: silent }]`,
        'pool: { connect_timeout_ms: 500 }',
        // Checks far apart: the reads themselves meet the silent node first (its connect failures count towards the ban).
        'health: { interval_ms: 60000, timeout_ms: 300, failures_to_ban: 2, ban_ms: 5000, max_ban_ms: 10000 }',
      ]),
    ]);
    proxies.push(gh);
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await node(gh.port));
    for (const a of answers) {
      expect(a.code).toBeNull();
      expect(['reader1', 'writer']).toContain(a.name);
      // At worst one connect timeout (500 ms) and a retry elsewhere, plus clickhouse-client's own start.
      expect(a.ms).toBeLessThan(3_000);
    }
    // Some reads were first sent to the silent node: they waited for the connect timeout, then went elsewhere.
    expect(answers.filter((a) => a.ms >= 500).length).toBeGreaterThan(0);
    // Once banned, reads no longer wait for it.
    expect(answers.slice(-4).every((a) => a.ms < 500)).toBe(true);
    const st = (await (await fetch(`http://127.0.0.1:${gh.adminPort}/status`)).json()) as { backends: { name: string; banned: boolean; banReason: string | null }[] };
    const s = st.backends.find((b) => b.name === 'silent');
    expect(s?.banned).toBe(true);
    expect(s?.banReason ?? '').toMatch(/500 ms|timed out|took longer/);
    // No connection to the silent node is held busy by the proxy's pools (its pool's samples exist, all 0 busy).
    const busy = (await gh.metrics())
      .split('\n')
      .filter((l) => l.startsWith('gatehouse_pool_connections{') && l.includes('backend="silent"') && l.includes('state="busy"'));
    expect(busy.length).toBeGreaterThan(0);
    for (const l of busy) expect(l.endsWith(' 0')).toBe(true);
  }, 120_000);
});

describe('Redis paused (SIGSTOP) under the result cache', () => {
  it('cached reads bypass the cache after command_timeout_ms and are answered by ClickHouse; hits resume after SIGCONT', async () => {
    const gh = await startGatehouse([
      '--config',
      configFile('redis-paused', [
        'http: { listen: "127.0.0.1:0", backend_port: ' + cluster.writer.httpPort + ' }',
        `cache: { enabled: true, ttl_seconds: 60, redis: { url: "redis://127.0.0.1:${redis.port}", command_timeout_ms: 300 } }`,
      ]),
    ]);
    proxies.push(gh);
    const auth = { 'Accept-Encoding': 'identity', Authorization: `Basic ${Buffer.from(`${APP.name}:${APP.password}`).toString('base64')}` };
    await httpQueryWriter('CREATE TABLE IF NOT EXISTS default.sb (x UInt8) ENGINE = Memory');
    await httpQueryWriter('INSERT INTO default.sb VALUES (1)');
    const sql = 'SELECT count() FROM default.sb';
    const get = async () => {
      const t0 = Date.now();
      const res = await fetch(`http://127.0.0.1:${gh.httpPort}/?query=${encodeURIComponent(sql)}`, { headers: auth });
      return { status: res.status, cache: res.headers.get('x-cache'), body: (await res.text()).trim(), ms: Date.now() - t0 };
    };
    // Right after start the store may still be connecting (the query then bypasses the cache): wait until it is used.
    let first = await get();
    for (let i = 0; i < 50 && first.cache === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      first = await get();
    }
    expect(first.cache).not.toBeNull();
    expect((await get()).cache).toBe('HIT');
    process.kill(redis.pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 3; i++) {
        const a = await get();
        // Answered by ClickHouse without the cache: no X-Cache header, within a few command timeouts.
        expect([a.status, a.cache, a.body]).toEqual([200, null, '1']);
        expect(a.ms).toBeLessThan(2_500);
      }
      // The native port too.
      const n = await runClient(gh.port, ['--user', APP.name, '--password', APP.password, '--query', sql], '');
      expect([n.stdout.trim(), errorCodeOf(n.stderr)]).toEqual(['1', null]);
      // Counted as store timeouts (the 3 HTTP reads and the native one).
      expect(sampleValue(await gh.metrics(), 'gatehouse_cache_bypass_total', 'reason="store_timeout"')).toBeGreaterThanOrEqual(4);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    // Back: the entry is still in Redis, or stored again by the next miss.
    let last = await get();
    for (let i = 0; i < 20 && last.cache !== 'HIT'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      last = await get();
    }
    expect([last.status, last.cache, last.body]).toEqual([200, 'HIT', '1']);
  }, 120_000);
});
