/**
 * Issue 6, observability: a `gatehouse serve` process in front of the sandbox cluster, result cache on
 * (`--cache-ttl 30`), runs reads, writes, a failing query and a cached read. Then its /metrics passes
 * `promtool check metrics` with no lint problem, a real Prometheus scraping the admin port every second answers
 * gatehouse_queries_total with the route, kind, user and outcome labels, and every query of grafana/gatehouse.json
 * runs on that Prometheus. /health and /ready answer as documented, also for a proxy whose writer is down.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Metrics } from '../../src/metrics';
import { spawnTracked, type TrackedProcess } from '../../src/sandbox';
import { errorCodeOf, freePort, runClient, runProcess, startSandboxCluster, type ClickHouseServer, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

/** Debian package `prometheus` (scripts/setup.sh installs it): the server and promtool. */
const PROMETHEUS_BIN = '/usr/bin/prometheus';
const PROMTOOL_BIN = '/usr/bin/promtool';
const APP = { name: 'app', password: 'app_pw' } as const;
const DASHBOARD = path.join(__dirname, '..', '..', 'grafana', 'gatehouse.json');

let cluster: SandboxCluster;
let gh: Gatehouse;
let tmpDir: string;
let prometheus: TrackedProcess | null = null;
const others: Gatehouse[] = [];

const hostPort = (n: ClickHouseServer) => `127.0.0.1:${n.tcpPort}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const bin of [PROMETHEUS_BIN, PROMTOOL_BIN]) {
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found: run \`bash scripts/setup.sh\` as root (installs the Debian package prometheus)`);
}

/** Polls `f` every 250 ms until it returns a value other than undefined; fails with `what` after `timeoutMs`. */
async function eventually<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(250);
  }
}

async function getText(port: number, p: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: res.status, body: await res.text() };
}

/** Runs `sql` as the proxy user; returns the ClickHouse error code (null on success). */
async function run(sql: string): Promise<number | null> {
  const res = await runClient(gh.port, ['--user', APP.name, '--password', APP.password, '--query', sql], '');
  const code = errorCodeOf(res.stderr);
  if (code === null && res.code !== 0) throw new Error(`clickhouse-client failed on ${sql}: exit ${res.code}\n${res.stderr}`);
  return code;
}

/** The value of the sample `name{labels}` (labels exactly as exposed, in order), or null when absent. */
function sample(text: string, name: string, labels: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
}

/** `promtool check metrics` on `text`: its exit code and everything it printed (lint problems). */
async function promtool(text: string): Promise<{ code: number | null; output: string }> {
  const r = await runProcess('promtool', PROMTOOL_BIN, ['check', 'metrics'], { stdin: text, timeoutMs: 30_000 });
  return { code: r.code, output: (r.stdout + r.stderr).trim() };
}

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query on Prometheus' HTTP API; throws when Prometheus reports an error (bad PromQL). */
async function promQuery(port: number, expr: string): Promise<PromResult[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: PromResult[] } };
  if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error ?? res.status}`);
  return body.data!.result;
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-obs-'));
  cluster = await startSandboxCluster();
  const file = path.join(tmpDir, 'gatehouse.yaml');
  fs.writeFileSync(
    file,
    [
      `writer: "${hostPort(cluster.writer)}"`,
      `readers: [${cluster.readers.map((r) => `"${hostPort(r)}"`).join(', ')}]`,
      `users: [{ name: ${APP.name}, password_sha256_hex: ${createHash('sha256').update(APP.password).digest('hex')} }]`,
      `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
      `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
      'admin: "127.0.0.1:0"',
    ].join('\n'),
  );
  gh = await startGatehouse(['--config', file, '--cache-ttl', '30']);
}, 120_000);

afterAll(async () => {
  // Prometheus is stopped by its test; this is the fallback when that test failed half-way.
  await prometheus?.terminate('SIGTERM', 10_000);
  await Promise.all([gh?.stop(), ...others.map((g) => g.stop())]);
  await cluster?.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('observability of a running proxy', () => {
  it('answers /health 200 and /ready 200 once the writer and a reader answered their health checks', async () => {
    const admin = gh.adminPort!;
    expect(await getText(admin, '/health')).toEqual({ status: 200, body: 'ok' });
    const ready = await eventually('/ready 200', async () => {
      const r = await getText(admin, '/ready');
      return r.status === 200 ? r : undefined;
    });
    expect(JSON.parse(ready.body)).toEqual({ ready: true });
  });

  it('answers /ready 503 naming the writer while the writer is down, and /health 200', async () => {
    const dead = await freePort();
    const down = await startGatehouse(['--writer', `127.0.0.1:${dead}`, '--admin', '127.0.0.1:0']);
    others.push(down);
    // Before the first check and after failed ones alike: never ready.
    for (let i = 0; i < 3; i++) {
      const r = await getText(down.adminPort!, '/ready');
      expect(r.status).toBe(503);
      const body = JSON.parse(r.body) as { ready: boolean; notReady: string[] };
      expect(body.ready).toBe(false);
      expect(body.notReady).toEqual([expect.stringMatching(/^writer /)]);
      expect(r.body).not.toContain(String(dead)); // names, not addresses
      await sleep(500);
    }
    expect(await getText(down.adminPort!, '/health')).toEqual({ status: 200, body: 'ok' });
  });

  let metricsText = '';
  const table = `default.obs_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

  it('counts reads, writes, an error and a cache hit by route, kind, user and outcome', async () => {
    expect(await run(`SELECT name FROM gatehouse_meta.node WHERE '${table}' != ''`)).toBeNull(); // miss: a reader
    expect(await run(`SELECT name FROM gatehouse_meta.node WHERE '${table}' != ''`)).toBeNull(); // hit: local
    expect(await run(`CREATE TABLE ${table} (x UInt8) ENGINE = Memory`)).toBeNull();
    expect(await run(`INSERT INTO ${table} VALUES (1)`)).toBeNull();
    expect(await run('SELECT * FROM default.no_such_table_for_obs')).toBe(60); // UNKNOWN_TABLE, from the reader
    metricsText = await gh.metrics();
    const q = (labels: string) => sample(metricsText, 'gatehouse_queries_total', labels);
    expect(q('route="reader",kind="read",user="app",outcome="ok"')).toBeGreaterThanOrEqual(1);
    expect(q('route="local",kind="read",user="app",outcome="ok"')).toBeGreaterThanOrEqual(1);
    expect(q('route="writer",kind="write",user="app",outcome="ok"')).toBe(2);
    expect(q('route="reader",kind="read",user="app",outcome="error"')).toBe(1);
    expect(sample(metricsText, 'gatehouse_query_errors_total', 'origin="backend",code="60"')).toBe(1);
    expect(metricsText).toMatch(/^gatehouse_cache_hits_total [1-9]/m);
    expect(metricsText).toMatch(/^gatehouse_query_duration_seconds_bucket\{le="0\.0001",route="local",kind="read"\} \d+$/m);
    expect(metricsText).toMatch(/^gatehouse_query_duration_seconds_count\{route="writer",kind="write"\} 2$/m);
    // Pools: a checkout wait per backend used, and the pools' max next to idle/busy/connecting.
    expect(metricsText).toMatch(/^gatehouse_pool_checkout_wait_seconds_count\{backend="[^"]+"\} [1-9]/m);
    expect(metricsText).toMatch(/^gatehouse_pool_max_connections\{backend="[^"]+",user="gh_writer"\} [1-9]/m);
    expect(metricsText).toMatch(/^gatehouse_pool_connections\{backend="[^"]+",user="gh_reader",state="idle"\} \d+$/m);
    expect(metricsText).toMatch(/^gatehouse_bytes_total\{direction="to_client"\} [1-9]/m);
    expect(metricsText).toMatch(/^gatehouse_client_connections_total [1-9]/m);
    expect(metricsText).toMatch(/^gatehouse_process_cpu_seconds_total \d/m);
    expect(metricsText).toMatch(/^gatehouse_process_resident_memory_bytes [1-9]/m);
    expect(metricsText).not.toContain(cluster.users.writer.password);
    expect(metricsText).not.toContain(APP.password);
  });

  it('passes promtool check metrics with no lint problem', async () => {
    expect(metricsText).not.toBe('');
    expect(await promtool(metricsText)).toEqual({ code: 0, output: '' });
  });

  it('passes promtool check metrics with every metric and label set filled in', async () => {
    // What a quiet proxy does not show (bans, cache store gauges, timeouts, discards): set here, linted the same way.
    const m = new Metrics();
    m.recordQuery({ route: 'local', kind: 'session', user: '', seconds: 0.0001, error: { origin: 'proxy', code: 164 } });
    m.addPoolSource(() => [{ backend: 'r1', user: 'ro', idle: 1, busy: 2, connecting: 1, waiting: 3, max: 8 }]);
    m.observeCheckoutWait('r1', 0.02);
    m.poolWaitTimeoutsTotal.inc({ backend: 'r1' });
    m.poolDiscardsTotal.inc({ backend: 'r1', reason: 'idle_timeout' });
    m.countConnect('r1', 'error');
    m.backendBanned.set({ backend: 'r1' }, 1);
    m.backendBansTotal.inc({ backend: 'r1' });
    m.pinnedSessions.inc();
    m.countBytes('to_backend', 10);
    m.countCacheBypass('store_down');
    m.countSingleflightWait('cluster');
    m.cacheStaleServedTotal.inc();
    m.cacheRefreshesTotal.inc();
    m.setCacheStoreUp(false);
    m.addCacheSource(() => ({ entries: 2, bytes: 100, evictions: 1 }));
    expect(await promtool(await m.render())).toEqual({ code: 0, output: '' });
  });

  it('is scraped by a real Prometheus, which answers gatehouse_queries_total with its labels and every dashboard query', async () => {
    const port = await freePort();
    const dir = path.join(tmpDir, 'prometheus');
    fs.mkdirSync(dir);
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: gatehouse',
        '    scrape_interval: 1s',
        '    static_configs:',
        `      - targets: ["127.0.0.1:${gh.adminPort}"]`,
      ].join('\n'),
    );
    prometheus = spawnTracked({
      kind: 'prometheus',
      command: PROMETHEUS_BIN,
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    prometheus.child.stdout!.on('data', (d) => (out += d));
    prometheus.child.stderr!.on('data', (d) => (out += d));
    try {
      await eventually(`Prometheus ready (${out})`, async () => ((await getText(port, '/-/ready')).status === 200 ? true : undefined));
      const series = await eventually('gatehouse_queries_total in Prometheus', async () => {
        const r = await promQuery(port, 'gatehouse_queries_total{job="gatehouse"}');
        return r.some((s) => s.metric.outcome === 'error') && r.length >= 4 ? r : undefined;
      });
      const labels = series.map((s) => {
        const { route, kind, user, outcome } = s.metric;
        return `${route} ${kind} ${user} ${outcome}`;
      });
      expect(labels).toEqual(
        expect.arrayContaining(['reader read app ok', 'reader read app error', 'writer write app ok', 'local read app ok']),
      );
      for (const s of series) expect(Object.keys(s.metric).sort()).toEqual(['__name__', 'instance', 'job', 'kind', 'outcome', 'route', 'user']);
      expect((await promQuery(port, 'up{job="gatehouse"}')).map((s) => s.value[1])).toEqual(['1']);

      // Every expression of the dashboard is valid PromQL here (Grafana's variables filled in as Grafana would).
      await eventually('three scrapes (a rate needs two samples)', async () => {
        const r = await promQuery(port, 'count_over_time(up{job="gatehouse"}[1m])');
        return Number(r[0]?.value[1] ?? 0) >= 3 ? true : undefined;
      });
      const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
      const empty: string[] = [];
      for (const p of dashboard.panels) {
        for (const t of p.targets ?? []) {
          const expr = t.expr.replace(/\$__rate_interval/g, '1m').replace(/\$__range/g, '5m').replace(/\$instance/g, '.*');
          const r = await promQuery(port, expr);
          if (r.length === 0) empty.push(`${p.title}: ${expr}`);
        }
      }
      // Queries that have data after this test's traffic answer it (the others are valid PromQL, checked above).
      const answered = (prefix: string) => !empty.some((e) => e.startsWith(prefix));
      for (const title of ['Queries per second by route and outcome', 'Query latency p50 / p99 by route', 'Client connections', 'CPU', 'Memory']) {
        expect([title, answered(title)]).toEqual([title, true]);
      }
    } finally {
      const exit = await prometheus.terminate('SIGTERM', 10_000);
      expect([exit, prometheus.running]).toEqual([{ code: 0, signal: null }, false]);
    }
  }, 90_000);
});
