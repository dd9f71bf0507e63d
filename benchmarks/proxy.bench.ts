/**
 * Issue 3's benchmark: the same workloads, side by side in one run, against ONE throw-away ClickHouse 18.16 node
 * (a) directly, (b) through HAProxy in TCP mode (the L4 anchor) and (c) through Gatehouse (pass-through
 * credentials, the node as the only backend, default pool settings).
 *
 * Run: npm run bench:proxy [-- --reps N] [-- --profile DIR] [-- --quick]
 *   --reps N       repetitions of every measurement (default 5; medians are quoted)
 *   --profile DIR  run Gatehouse under `node --cpu-prof` and print its hottest functions at the end
 *   --quick        a few iterations only (smoke test of the harness, figures meaningless)
 *
 * Every measurement of a repetition runs for all three paths back to back (the order rotates between
 * repetitions), so drift on this shared 2-core machine hits the paths alike. The proxy, the load generator and
 * ClickHouse share the two cores: a proxy's CPU is taken from ClickHouse and from the client.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { httpQuery, freePort, spawnTracked, startClickHouse, type ClickHouseServer, type TrackedProcess } from '../src/sandbox';
import { argValue, clickhouseBenchmark, cpuSeconds, fmt, loadavg, median, rssMiB, run, waitForOutput } from './bench-util';
import { connectPerQuery } from './connect-per-query';
import { formatTop } from './cpuprofile-top';

const CLIENT_BIN = '/usr/bin/clickhouse-client';
const HAPROXY_BIN = '/usr/sbin/haproxy';
const GATEHOUSE_CLI = path.join(__dirname, '..', 'dist', 'bin', 'cli.js');

// ---------------------------------------------------------------------------------------------------------------
// options

const REPS = Number(argValue('--reps') ?? 5);
const PROFILE_DIR = argValue('--profile');
const QUICK = process.argv.includes('--quick');

const SELECT1_ITER = QUICK ? 200 : 2000;
const M1_ITER_C1 = QUICK ? 2 : 10;
const M1_ITER_C4 = QUICK ? 4 : 16;
const DOWNLOAD_ROWS = QUICK ? 1_000_000 : 10_000_000;
const INSERT_ROWS = QUICK ? 200_000 : 2_000_000;
const CONNECT_SEQ = QUICK ? 100 : 600;
const CONNECT_C8 = QUICK ? 200 : 1500;

const SQL_1M = 'SELECT number, toString(number) FROM numbers(1000000)';
const SQL_DOWNLOAD = `SELECT number, toString(number) FROM numbers(${DOWNLOAD_ROWS}) FORMAT Native`;

// ---------------------------------------------------------------------------------------------------------------
// processes

async function startHaproxy(dir: string, backendPort: number): Promise<{ port: number; proc: TrackedProcess }> {
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  // maxconn below the fd limit: haproxy refuses to start when it cannot raise RLIMIT_NOFILE to maxconn × 2 + x.
  fs.writeFileSync(
    cfg,
    [
      'global',
      '    maxconn 4000',
      'defaults',
      '    mode tcp',
      '    timeout connect 5s',
      '    timeout client 1h',
      '    timeout server 1h',
      '    maxconn 4000',
      'frontend bench',
      `    bind 127.0.0.1:${port}`,
      '    default_backend clickhouse',
      'backend clickhouse',
      `    server ch 127.0.0.1:${backendPort}`,
      '',
    ].join('\n'),
  );
  const proc = spawnTracked({ kind: 'haproxy', command: HAPROXY_BIN, args: ['-db', '-f', cfg], stdio: ['ignore', 'pipe', 'pipe'] });
  const deadline = Date.now() + 10_000;
  let out = '';
  proc.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  for (;;) {
    if (!proc.running) throw new Error(`haproxy exited during start-up:\n${out}`);
    const probe = await run(CLIENT_BIN, ['--host', '127.0.0.1', '--port', String(port), '--query', 'SELECT 1']).catch(() => null);
    if (probe && probe.code === 0) return { port, proc };
    if (Date.now() > deadline) throw new Error(`haproxy did not forward in time:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startGatehouse(backendPort: number, profileDir: string | undefined): Promise<{ port: number; proc: TrackedProcess }> {
  if (!fs.existsSync(GATEHOUSE_CLI)) throw new Error(`${GATEHOUSE_CLI} missing: run \`npx tsc -p tsconfig.build.json\``);
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const proc = spawnTracked({
    kind: 'gatehouse',
    command: process.execPath,
    args: [...nodeArgs, GATEHOUSE_CLI, 'serve', '--workers', '1', '--listen', '127.0.0.1:0', '--writer', `127.0.0.1:${backendPort}`],
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const m = await waitForOutput(proc, /listening on 127\.0\.0\.1:(\d+)/, 'gatehouse');
  return { port: Number(m[1]), proc };
}

// ---------------------------------------------------------------------------------------------------------------
// workloads

async function clientDownload(port: number): Promise<{ seconds: number; bytes: number }> {
  const res = await run(CLIENT_BIN, ['--host', '127.0.0.1', '--port', String(port), '--query', SQL_DOWNLOAD], {
    keepStdout: false,
    timeoutMs: 300_000,
  });
  if (res.code !== 0) throw new Error(`download on port ${port} failed (exit ${res.code}): ${res.stderr.slice(-1000)}`);
  return { seconds: res.seconds, bytes: res.stdoutBytes };
}

async function clientInsert(port: number, file: string): Promise<number> {
  const res = await run(CLIENT_BIN, ['--host', '127.0.0.1', '--port', String(port), '--query', 'INSERT INTO bench_insert FORMAT TSV'], {
    stdin: { file },
    timeoutMs: 300_000,
  });
  if (res.code !== 0) throw new Error(`insert on port ${port} failed (exit ${res.code}): ${res.stderr.slice(-1000)}`);
  return res.seconds;
}

function writeInsertFile(file: string, rows: number): void {
  const fd = fs.openSync(file, 'w');
  const batch = 100_000;
  for (let start = 0; start < rows; start += batch) {
    let s = '';
    for (let i = start; i < Math.min(rows, start + batch); i++) s += `${i}\tuser-${i % 10_000}-${i}\n`;
    fs.writeSync(fd, s);
  }
  fs.closeSync(fd);
}

// ---------------------------------------------------------------------------------------------------------------
// bookkeeping and the table

type PathName = 'direct' | 'haproxy' | 'gatehouse';
const PATHS: readonly PathName[] = ['direct', 'haproxy', 'gatehouse'];

interface Metric {
  label: string;
  unit: string;
  /** Throughput: higher is better; latency and wall time: lower is better. */
  higherIsBetter: boolean;
  /** Connect-per-query rows carry the second target (≥ 1.5× direct). */
  pooling?: boolean;
  samples: Record<PathName, number[]>;
}

const metrics = new Map<string, Metric>();

function metric(key: string, label: string, unit: string, higherIsBetter: boolean, pooling = false): Metric {
  let m = metrics.get(key);
  if (!m) {
    m = { label, unit, higherIsBetter, pooling, samples: { direct: [], haproxy: [], gatehouse: [] } };
    metrics.set(key, m);
  }
  return m;
}

/**
 * Ratios are "speed" ratios: Gatehouse's throughput over the other's, or the other's time over Gatehouse's, so
 * > 1 always means Gatehouse is faster. Latency rows also show the plain time ratio, labelled.
 */
function renderTable(): string {
  const lines: string[] = [];
  lines.push('| Row | direct | HAProxy | Gatehouse | GH/direct (speed) | GH/HAProxy (speed) | GH/HAProxy time ratio | targets |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---|');
  for (const m of metrics.values()) {
    const d = median(m.samples.direct);
    const h = median(m.samples.haproxy);
    const g = median(m.samples.gatehouse);
    const vsDirect = m.higherIsBetter ? g / d : d / g;
    const vsHaproxy = m.higherIsBetter ? g / h : h / g;
    const timeRatio = m.higherIsBetter ? '' : `${fmt(g / h)}× (lower is better)`;
    const verdicts = [`≥0.9× HAProxy: ${vsHaproxy >= 0.9 ? 'met' : 'MISSED'}`];
    if (m.pooling) verdicts.push(`≥1.5× direct: ${vsDirect >= 1.5 ? 'met' : 'MISSED'}`);
    lines.push(
      `| ${m.label} (${m.unit}) | ${fmt(d)} | ${fmt(h)} | ${fmt(g)} | ${vsDirect.toFixed(2)} | ${vsHaproxy.toFixed(2)} | ${timeRatio} | ${verdicts.join('; ')} |`,
    );
  }
  return lines.join('\n');
}

function renderSamples(): string {
  const lines: string[] = ['Raw samples (per path, in run order):'];
  for (const m of metrics.values()) {
    const parts = PATHS.map((p) => `${p} ${m.samples[p].map(fmt).join(' ')}`);
    lines.push(`  ${m.label} (${m.unit}): ${parts.join(' | ')}`);
  }
  return lines.join('\n');
}

/** CPU the proxy process spent per unit of work (from /proc, 10 ms ticks: coarse for the short rows). */
interface CpuRow {
  label: string;
  unit: string;
  samples: { haproxy: number[]; gatehouse: number[] };
}
const cpuRows = new Map<string, CpuRow>();

function cpuRow(key: string, label: string, unit: string): CpuRow {
  let r = cpuRows.get(key);
  if (!r) {
    r = { label, unit, samples: { haproxy: [], gatehouse: [] } };
    cpuRows.set(key, r);
  }
  return r;
}

function renderCpuTable(): string {
  const lines = ['| Workload | HAProxy CPU | Gatehouse CPU | Gatehouse/HAProxy |', '|---|---:|---:|---:|'];
  for (const r of cpuRows.values()) {
    const h = median(r.samples.haproxy);
    const g = median(r.samples.gatehouse);
    lines.push(`| ${r.label} (${r.unit}) | ${fmt(h)} | ${fmt(g)} | ${h > 0 ? `${(g / h).toFixed(1)}×` : '—'} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// main

async function main(): Promise<void> {
  const t0 = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-proxy-'));
  let ch: ClickHouseServer | null = null;
  let haproxy: { port: number; proc: TrackedProcess } | null = null;
  let gatehouse: { port: number; proc: TrackedProcess } | null = null;
  try {
    ch = await startClickHouse({ name: 'bench' });
    await httpQuery(ch.httpPort, 'CREATE TABLE default.bench_insert (n UInt64, s String) ENGINE = Null');
    haproxy = await startHaproxy(dir, ch.tcpPort);
    gatehouse = await startGatehouse(ch.tcpPort, PROFILE_DIR ? path.resolve(PROFILE_DIR) : undefined);
    const ports: Record<PathName, number> = { direct: ch.tcpPort, haproxy: haproxy.port, gatehouse: gatehouse.port };
    const insertFile = path.join(dir, 'insert.tsv');
    writeInsertFile(insertFile, INSERT_ROWS);
    const cpu = os.cpus();
    console.log(
      `proxy benchmark: ${cpu.length} × ${cpu[0]?.model ?? '?'}, Node ${process.version}, ${REPS} repetitions${QUICK ? ' (QUICK)' : ''}`,
    );
    console.log(`load average at the start ${loadavg()}`);
    console.log(`ClickHouse 18.16 on :${ch.tcpPort}, HAProxy on :${haproxy.port}, Gatehouse on :${gatehouse.port} (pid ${gatehouse.proc.pid})`);

    // Warm-up: JIT the proxy, open pooled backend connections, warm ClickHouse's caches, on every path alike.
    for (const p of PATHS) {
      await clickhouseBenchmark(ports[p], 'SELECT 1', 300, 8, dir);
      await clickhouseBenchmark(ports[p], SQL_1M, 2, 1, dir);
      await connectPerQuery(ports[p], 100, 8);
    }
    const cpuAtStart = { haproxy: cpuSeconds(haproxy.proc.pid), gatehouse: cpuSeconds(gatehouse.proc.pid) };

    const proxyPid: Record<PathName, number | null> = { direct: null, haproxy: haproxy.proc.pid, gatehouse: gatehouse.proc.pid };
    /** Runs one measurement on path `p` and books the proxy's CPU per `units` (queries, runs) under `cpu`. */
    const measured = async <T>(
      p: PathName,
      cpu: { key: string; label: string; unit: string; perUnit: number; units: number },
      fn: () => Promise<T>,
    ): Promise<T> => {
      const pid = proxyPid[p];
      const before = pid === null ? 0 : cpuSeconds(pid);
      const out = await fn();
      if (pid !== null && p !== 'direct') {
        cpuRow(cpu.key, cpu.label, cpu.unit).samples[p].push(((cpuSeconds(pid) - before) * cpu.perUnit) / cpu.units);
      }
      return out;
    };

    let downloadBytes = -1;
    for (let rep = 0; rep < REPS; rep++) {
      // rotate the order so no path is always first (or last) after a switch of workload
      const order = PATHS.map((_, i) => PATHS[(i + rep) % PATHS.length]);
      const each = async (fn: (p: PathName) => Promise<void>): Promise<void> => {
        for (const p of order) await fn(p);
      };
      for (const c of [1, 8, 32]) {
        await each(async (p) => {
          const cpu = { key: `s1-${c}`, label: `SELECT 1, c=${c}`, unit: 'µs/query', perUnit: 1e6, units: SELECT1_ITER };
          const f = await measured(p, cpu, () => clickhouseBenchmark(ports[p], 'SELECT 1', SELECT1_ITER, c, dir));
          metric(`s1-qps-${c}`, `SELECT 1, c=${c}, QPS`, 'queries/s', true).samples[p].push(f.qps);
          metric(`s1-p50-${c}`, `SELECT 1, c=${c}, p50`, 'ms', false).samples[p].push(f.p50ms);
          metric(`s1-p99-${c}`, `SELECT 1, c=${c}, p99`, 'ms', false).samples[p].push(f.p99ms);
        });
      }
      for (const [c, iters] of [
        [1, M1_ITER_C1],
        [4, M1_ITER_C4],
      ] as const) {
        await each(async (p) => {
          const cpu = { key: `m1-${c}`, label: `1M rows, c=${c}`, unit: 'ms/query', perUnit: 1e3, units: iters };
          const f = await measured(p, cpu, () => clickhouseBenchmark(ports[p], SQL_1M, iters, c, dir));
          metric(`m1-qps-${c}`, `1M rows, c=${c}, QPS`, 'queries/s', true).samples[p].push(f.qps);
          metric(`m1-mib-${c}`, `1M rows, c=${c}, result`, 'MiB/s', true).samples[p].push(f.resultMiBps);
        });
      }
      await each(async (p) => {
        const cpu = { key: 'dl', label: `${DOWNLOAD_ROWS / 1e6}M-row download`, unit: 'ms/run', perUnit: 1e3, units: 1 };
        const r = await measured(p, cpu, () => clientDownload(ports[p]));
        if (downloadBytes < 0) downloadBytes = r.bytes;
        else if (r.bytes !== downloadBytes) throw new Error(`download via ${p}: ${r.bytes} bytes, expected ${downloadBytes}`);
        metric('dl-s', `${DOWNLOAD_ROWS / 1e6}M-row clickhouse-client download (Native), wall`, 's', false).samples[p].push(r.seconds);
        metric('dl-mb', `${DOWNLOAD_ROWS / 1e6}M-row download, output`, 'MB/s', true).samples[p].push(r.bytes / r.seconds / 1e6);
      });
      await each(async (p) => {
        const cpu = { key: 'ins', label: `${INSERT_ROWS / 1e6}M-row INSERT`, unit: 'ms/run', perUnit: 1e3, units: 1 };
        const s = await measured(p, cpu, () => clientInsert(ports[p], insertFile));
        metric('ins-s', `${INSERT_ROWS / 1e6}M-row INSERT FORMAT TSV (clickhouse-client), wall`, 's', false).samples[p].push(s);
      });
      // Drivers (Python clickhouse-driver) put 'default' in the Hello; clickhouse-client 18.16 sends ''. Both
      // are measured: Gatehouse treats them differently (a named database is checked on a backend).
      for (const [db, dbLabel] of [
        ['default', "Hello database 'default'"],
        ['', "Hello database ''"],
      ] as const) {
        for (const [c, n] of [
          [1, CONNECT_SEQ],
          [8, CONNECT_C8],
        ] as const) {
          await each(async (p) => {
            const key = `cpq-${c}-${db || 'empty'}`;
            const label = `connect + SELECT 1 per connection, ${c === 1 ? 'sequential' : `c=${c}`}, ${dbLabel}`;
            const cpu = { key, label, unit: 'µs/connection', perUnit: 1e6, units: n };
            const r = await measured(p, cpu, () => connectPerQuery(ports[p], n, c, 'SELECT 1', 'default', '', db));
            metric(key, label, 'queries/s', true, true).samples[p].push(r.qps);
          });
        }
      }
      console.log(`repetition ${rep + 1}/${REPS} done at ${((Date.now() - t0) / 1000).toFixed(0)} s (load average ${loadavg()})`);
    }

    const cpuUsed = {
      haproxy: cpuSeconds(haproxy.proc.pid) - cpuAtStart.haproxy,
      gatehouse: cpuSeconds(gatehouse.proc.pid) - cpuAtStart.gatehouse,
    };
    console.log('');
    console.log(`Medians of ${REPS} repetitions. "speed" ratios: > 1 means Gatehouse is faster.`);
    console.log(renderTable());
    console.log('');
    console.log(renderSamples());
    console.log('');
    console.log('Proxy CPU per unit of work (medians; /proc ticks are 10 ms, so the SELECT 1 rows are coarse):');
    console.log(renderCpuTable());
    console.log('');
    console.log(
      `CPU used during the measured part: HAProxy ${cpuUsed.haproxy.toFixed(1)} s, Gatehouse ${cpuUsed.gatehouse.toFixed(1)} s; ` +
        `Gatehouse RSS now ${rssMiB(gatehouse.proc.pid).toFixed(0)} MiB.`,
    );
    console.log(`Total time ${((Date.now() - t0) / 1000).toFixed(0)} s; load average at the end ${loadavg()}.`);
  } finally {
    if (gatehouse) await gatehouse.proc.terminate('SIGTERM', 10_000);
    if (haproxy) await haproxy.proc.terminate('SIGTERM', 5_000);
    if (ch) await ch.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (PROFILE_DIR) {
    const files = fs
      .readdirSync(PROFILE_DIR)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(PROFILE_DIR, f))
      .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    if (files.length === 0) console.log(`no .cpuprofile written in ${PROFILE_DIR}`);
    else {
      console.log(`\nGatehouse hottest functions by self time (${files[0]}):`);
      console.log(formatTop(files[0], 25));
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
