/**
 * Issue 3's pooling against the real sandbox cluster through a `gatehouse serve` process: 200 concurrent clients ×
 * 20 queries hold no more backend connections than pool.max_size (read from the backends' own system.metrics), the
 * admin /metrics show pools and routes, a full pool answers Exception 202 naming the pool after wait_timeout_ms,
 * and a writer that goes down and comes back is handled without restarting the proxy.
 *
 * Backend connections are sampled over HTTP (`TCPConnection` counts native connections only, so the sampler does
 * not count itself).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  errorCodeOf,
  httpQuery,
  runClient,
  runPython,
  startSandboxCluster,
  type ClickHouseServer,
  type RunResult,
  type SandboxCluster,
} from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

const APP = { name: 'app', password: 'app_pw' } as const;

let cluster: SandboxCluster;
let tmpDir: string;
const proxies: Gatehouse[] = [];

const hostPort = (n: ClickHouseServer) => `127.0.0.1:${n.tcpPort}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const direct = (node: ClickHouseServer, sql: string) => httpQuery(node.httpPort, sql);
const tcpConnections = async (node: ClickHouseServer) =>
  Number((await direct(node, "SELECT value FROM system.metrics WHERE metric = 'TCPConnection'")).trim());

/** Starts a proxy in front of `readers` with the given YAML `pool:`/extra lines (identities and user `app`). */
async function startProxy(readers: readonly ClickHouseServer[], extraYaml: string, args: string[] = []): Promise<Gatehouse> {
  const file = path.join(tmpDir, `gh-${proxies.length}.yaml`);
  fs.writeFileSync(
    file,
    [
      `writer: "${hostPort(cluster.writer)}"`,
      `readers: [${readers.map((r) => `"${hostPort(r)}"`).join(', ')}]`,
      `users: [{ name: ${APP.name}, password_sha256_hex: ${createHash('sha256').update(APP.password).digest('hex')} }]`,
      `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
      `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
      extraYaml,
    ].join('\n'),
  );
  const g = await startGatehouse(['--config', file, ...args]);
  proxies.push(g);
  return g;
}

function client(port: number, sql: string, timeoutMs = 30_000): Promise<RunResult> {
  return runClient(port, ['--user', APP.name, '--password', APP.password, '--query', sql], '', timeoutMs);
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await f();
  return { value, ms: Date.now() - t0 };
}

/** The value of one Prometheus sample line (labels in the exporter's order), or null. */
function metric(text: string, name: string, labels: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-pooling-'));
  cluster = await startSandboxCluster();
}, 60_000);

afterAll(async () => {
  await Promise.all(proxies.map((g) => g.stop()));
  await cluster?.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('pooling', () => {
  test('200 concurrent clients × 20 queries: all succeed, backend connections never above pool.max_size', async () => {
    const MAX = 4;
    const CLIENTS = 200;
    const QUERIES = 20;
    const gh = await startProxy(cluster.readers, `pool: { max_size: ${MAX}, min_idle: 0, wait_timeout_ms: 60000 }`, ['--admin', '127.0.0.1:0']);
    // Only the health checker's connection per node before any client (min_idle 0).
    await new Promise((r) => setTimeout(r, 300));
    const baseline = await Promise.all(cluster.nodes.map(tcpConnections));
    expect(baseline).toEqual([1, 1, 1]);

    // Sample every node's own count of native connections every ~50 ms while the clients run.
    const peak = cluster.nodes.map(() => 0);
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const now = await Promise.all(cluster.nodes.map(tcpConnections));
        now.forEach((n, i) => (peak[i] = Math.max(peak[i], n)));
        samples++;
        await sleep(50);
      }
    })();

    const { value: run, ms } = await timed(() =>
      runPython(
        `
import json, threading
from clickhouse_driver import Client
CLIENTS, QUERIES = ${CLIENTS}, ${QUERIES}
barrier = threading.Barrier(CLIENTS)
names, errors, lock = {}, [], threading.Lock()
def work(i):
    c = Client('127.0.0.1', port=${gh.port}, user='${APP.name}', password='${APP.password}', connect_timeout=30, send_receive_timeout=120)
    try:
        barrier.wait()  # every client connects (Hello, login) and queries at the same time
        for q in range(QUERIES):
            rows = c.execute('SELECT (SELECT any(name) FROM gatehouse_meta.node), count() FROM numbers(%d)' % (1000 + q))
            assert rows[0][1] == 1000 + q, rows
            with lock:
                names[rows[0][0]] = names.get(rows[0][0], 0) + 1
    except Exception as e:
        with lock:
            errors.append('%d: %s' % (i, str(e).replace(chr(10), ' ')[:200]))
    finally:
        c.disconnect()
ts = [threading.Thread(target=work, args=(i,)) for i in range(CLIENTS)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({'names': names, 'errors': errors[:10], 'error_count': len(errors)}))
`,
        {},
        150_000,
      ),
    );
    sampling = false;
    await sampler;
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { names: Record<string, number>; errors: string[]; error_count: number };
    const metricsText = await gh.metrics();
    // eslint-disable-next-line no-console
    console.log(`pooling: ${CLIENTS}×${QUERIES} queries in ${ms} ms; peak TCPConnection writer/reader1/reader2 = ${peak.join('/')} over ${samples} samples; per reader ${JSON.stringify(out.names)}`);

    expect(out.errors).toEqual([]);
    expect(out.error_count).toBe(0);
    expect((out.names.reader1 ?? 0) + (out.names.reader2 ?? 0)).toBe(CLIENTS * QUERIES);
    expect(out.names.reader1).toBeGreaterThan(0);
    expect(out.names.reader2).toBeGreaterThan(0);
    expect(samples).toBeGreaterThanOrEqual(5);
    // One pool per reader (gh_reader, database default, revision 54412): at most MAX connections each. The writer
    // ran no query (the proxy's only writer connection is the short Hello probe for what it presents to clients).
    // + 1: the health checker's own connection to each backend (health.interval_ms), not pooled.
    expect(peak[1]).toBeLessThanOrEqual(MAX + 1);
    expect(peak[2]).toBeLessThanOrEqual(MAX + 1);
    expect(peak[1]).toBeGreaterThan(1);
    expect(peak[0]).toBeLessThanOrEqual(2);

    // /metrics: query counts by route and pool gauges.
    expect(metric(metricsText, 'gatehouse_queries_total', 'route="reader",kind="read",user="app",outcome="ok"')).toBe(CLIENTS * QUERIES);
    // Relayed bytes: every query sent a Query packet up and got at least a header, a row and EndOfStream back.
    expect(metric(metricsText, 'gatehouse_bytes_total', 'direction="to_backend"')).toBeGreaterThan(CLIENTS * QUERIES * 20);
    expect(metric(metricsText, 'gatehouse_bytes_total', 'direction="to_client"')).toBeGreaterThan(CLIENTS * QUERIES * 20);
    for (const backend of ['reader1', 'reader2']) {
      const idle = metric(metricsText, 'gatehouse_pool_connections', `backend="${backend}",user="gh_reader",state="idle"`);
      const busy = metric(metricsText, 'gatehouse_pool_connections', `backend="${backend}",user="gh_reader",state="busy"`);
      expect([backend, idle !== null && busy !== null]).toEqual([backend, true]);
      expect(idle! + busy!).toBeGreaterThan(0);
      expect(idle! + busy!).toBeLessThanOrEqual(MAX);
    }
  }, 170_000);

  test('a full pool answers Exception 202 naming the pool after wait_timeout_ms', async () => {
    const reader = cluster.readers[0];
    const gh = await startProxy([reader], 'pool: { max_size: 1, min_idle: 0, wait_timeout_ms: 300 }');
    const holder = timed(() => client(gh.port, 'SELECT sleep(3)'));
    await sleep(700); // the holder's query is running on the pool's only connection
    const { value: waiter, ms } = await timed(() => client(gh.port, 'SELECT 1'));
    expect(errorCodeOf(waiter.stderr)).toBe(202);
    expect(waiter.stderr).toContain('Gatehouse');
    expect(waiter.stderr).toContain(`reader1 (127.0.0.1:${reader.tcpPort})`);
    expect(waiter.stderr).toContain('gh_reader');
    expect(ms).toBeLessThan(2_000);
    const held = await holder;
    expect(held.value.stderr).toBe('');
    expect(held.value.stdout).toBe('0\n');
    // The pool is usable again once the holder is done.
    const after = await client(gh.port, 'SELECT name FROM gatehouse_meta.node');
    expect(after.stdout).toBe('reader1\n');
  });
});

describe('backend down', () => {
  test('writer killed: writes get 210 quickly, reads keep working; after a restart writes work again', async () => {
    const gh = await startProxy(cluster.readers, 'pool: { connect_timeout_ms: 2000 }');
    await direct(cluster.writer, 'CREATE DATABASE IF NOT EXISTS down');
    await direct(cluster.writer, 'CREATE TABLE down.t (x UInt8) ENGINE = TinyLog');
    expect((await client(gh.port, 'INSERT INTO down.t SELECT 1')).stderr).toBe('');

    // A Python session opened before the failure, used again after it (a file tells it the writer is down).
    const go = path.join(tmpDir, 'writer-down');
    const py = runPython(
      `
import json, os, time
from clickhouse_driver import Client
c = Client('127.0.0.1', port=${gh.port}, user='${APP.name}', password='${APP.password}')
before = c.execute('SELECT name FROM gatehouse_meta.node')[0][0]
open('${go}.ready', 'w').close()
while not os.path.exists('${go}'):
    time.sleep(0.02)
after = [c.execute('SELECT name FROM gatehouse_meta.node')[0][0] for _ in range(4)]
print(json.dumps({'before': before, 'after': after}))
`,
      {},
      60_000,
    );
    while (!fs.existsSync(`${go}.ready`)) await sleep(20);
    await cluster.writer.kill('SIGKILL');
    const write = await timed(() => client(gh.port, 'INSERT INTO down.t SELECT 2'));
    expect(errorCodeOf(write.value.stderr)).toBe(210); // NETWORK_ERROR
    expect(write.value.stderr).toContain('Gatehouse');
    expect(write.ms).toBeLessThan(3_000);

    // New clients still read from the readers while the writer is down.
    const reads: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await client(gh.port, 'SELECT name FROM gatehouse_meta.node');
      reads.push(r.stdout.trim() || `error ${errorCodeOf(r.stderr)}: ${r.stderr.trim().split('\n')[0]}`);
    }
    fs.writeFileSync(go, '');
    const session = await py;

    await cluster.writer.restart();
    const again = await timed(() => client(gh.port, 'INSERT INTO down.t SELECT 3'));
    const stored = await direct(cluster.writer, 'SELECT x FROM down.t ORDER BY x');
    // eslint-disable-next-line no-console
    console.log(`backend down: failed write answered in ${write.ms} ms; write after restart ${again.ms} ms`);

    // Collected first so one run shows every outcome (the restart half runs even if reads failed).
    expect(session.stderr).toBe('');
    const sessionOut = JSON.parse(session.stdout.trim().split('\n').at(-1)!) as { before: string; after: string[] };
    expect(new Set(sessionOut.after)).toEqual(new Set(['reader1', 'reader2']));
    expect(again.value.stderr).toBe('');
    expect(stored).toBe('1\n3\n');
    // New clients log in and read from the readers while the writer is down.
    expect(new Set(reads)).toEqual(new Set(['reader1', 'reader2']));
  }, 90_000);
});
