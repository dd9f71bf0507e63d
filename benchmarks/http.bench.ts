/**
 * Issue 7's benchmark: ClickHouse's HTTP interface, side by side in one run, against ONE throw-away ClickHouse 18.16
 * node (a) directly, (b) through HAProxy in HTTP mode (keep-alive both sides, the L7 anchor) and (c) through
 * Gatehouse's HTTP frontend (pass-through credentials: the `default` user, the node as the only backend, default
 * settings, no cache).
 *
 * Run: npm run bench:http [-- --reps N] [-- --threads N] [-- --profile DIR] [-- --quick]
 *   --reps N       repetitions of every measurement (default 3; medians are quoted)
 *   --threads N    HAProxy nbthread = Gatehouse --workers = N (default auto: one per core, both proxies' default)
 *   --profile DIR  run Gatehouse under `node --cpu-prof` and print its hottest functions at the end
 *   --quick        a few requests only (smoke test of the harness, figures meaningless)
 *
 * Workloads: `SELECT 1` POSTed from a small undici keep-alive load generator (QPS, p50/p99 at concurrency 1 and 8),
 * and a 1M-row TSV result (`SELECT number, toString(number) FROM numbers(1000000) FORMAT TSV`, seconds to read it
 * whole, the median of 5 downloads per repetition). Every measurement of a repetition runs for all three paths back
 * to back (the order rotates between repetitions). The load generator, the proxy and ClickHouse share this machine's
 * cores.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnTracked, startClickHouse, type ClickHouseServer, type TrackedProcess } from '../src/sandbox';
import { argValue, fmt, treeCpuSeconds as cpuSeconds, httpDownload, httpLoad, loadavg, median, rssMiB, startHaproxyHttp, waitForOutput } from './bench-util';
import { formatTop } from './cpuprofile-top';

const GATEHOUSE_CLI = path.join(__dirname, '..', 'dist', 'bin', 'cli.js');

// ---------------------------------------------------------------------------------------------------------------
// options

const REPS = Number(argValue('--reps') ?? 3);
const PROFILE_DIR = argValue('--profile');
const QUICK = process.argv.includes('--quick');
/** HAProxy's nbthread and Gatehouse's --workers (default auto: one per core, both proxies' own default). */
const THREADS = ((arg) => {
  if (arg === undefined || arg === 'auto') return os.availableParallelism();
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--threads must be a positive integer or auto, got ${arg}`);
  return n;
})(argValue('--threads'));

const SELECT1_C1 = QUICK ? 300 : 3000;
const SELECT1_C8 = QUICK ? 600 : 8000;
const TSV_RUNS = QUICK ? 1 : 5;

const SQL_TSV = 'SELECT number, toString(number) FROM numbers(1000000) FORMAT TSV';

// ---------------------------------------------------------------------------------------------------------------
// processes

async function startGatehouse(dir: string, ch: ClickHouseServer, profileDir: string | undefined, workers: number): Promise<{ port: number; proc: TrackedProcess }> {
  if (!fs.existsSync(GATEHOUSE_CLI)) throw new Error(`${GATEHOUSE_CLI} missing: run \`npx tsc -p tsconfig.build.json\``);
  // The node's HTTP port is a free port picked at start-up: the HTTP frontend is told where the writer's is.
  const cfg = path.join(dir, 'gatehouse.yaml');
  fs.writeFileSync(cfg, `http:\n  backend_ports:\n    writer: ${ch.httpPort}\n`);
  const proc = spawnTracked({
    kind: 'gatehouse',
    command: process.execPath,
    args: [
      ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
      GATEHOUSE_CLI,
      'serve',
      '--config',
      cfg,
      '--workers',
      String(workers),
      '--listen',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--writer',
      `127.0.0.1:${ch.tcpPort}`,
    ],
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    // the ready line is logged at level info
    const m = await waitForOutput(proc, /HTTP on 127\.0\.0\.1:(\d+)/, 'gatehouse');
    return { port: Number(m[1]), proc };
  } catch (e) {
    await proc.terminate('SIGTERM', 5_000);
    throw e;
  }
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
  samples: Record<PathName, number[]>;
}

const metrics = new Map<string, Metric>();

function metric(key: string, label: string, unit: string, higherIsBetter: boolean): Metric {
  let m = metrics.get(key);
  if (!m) {
    m = { label, unit, higherIsBetter, samples: { direct: [], haproxy: [], gatehouse: [] } };
    metrics.set(key, m);
  }
  return m;
}

/**
 * Ratios are "speed" ratios: Gatehouse's throughput over the other's, or the other's time over Gatehouse's, so
 * > 1 always means Gatehouse is faster. The target (≥ 0.9× HAProxy) is judged on that ratio for every row.
 */
function renderTable(): string {
  const lines: string[] = [];
  lines.push('| Row | direct | HAProxy | Gatehouse | GH/direct (speed) | GH/HAProxy (speed) | target ≥ 0.9× HAProxy |');
  lines.push('|---|---:|---:|---:|---:|---:|---|');
  for (const m of metrics.values()) {
    const d = median(m.samples.direct);
    const h = median(m.samples.haproxy);
    const g = median(m.samples.gatehouse);
    const vsDirect = m.higherIsBetter ? g / d : d / g;
    const vsHaproxy = m.higherIsBetter ? g / h : h / g;
    lines.push(
      `| ${m.label} (${m.unit}) | ${fmt(d)} | ${fmt(h)} | ${fmt(g)} | ${vsDirect.toFixed(2)} | ${vsHaproxy.toFixed(2)} | ${vsHaproxy >= 0.9 ? 'met' : 'MISSED'} |`,
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

/** CPU the proxy process spent per unit of work (from /proc, 10 ms ticks: coarse for short measurements). */
const cpuRows = new Map<string, { label: string; unit: string; samples: { haproxy: number[]; gatehouse: number[] } }>();

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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-http-'));
  let ch: ClickHouseServer | null = null;
  let haproxy: { port: number; proc: TrackedProcess } | null = null;
  let gatehouse: { port: number; proc: TrackedProcess } | null = null;
  try {
    ch = await startClickHouse({ name: 'bench' });
    haproxy = await startHaproxyHttp(dir, ch.httpPort, THREADS);
    gatehouse = await startGatehouse(dir, ch, PROFILE_DIR ? path.resolve(PROFILE_DIR) : undefined, THREADS);
    const ports: Record<PathName, number> = { direct: ch.httpPort, haproxy: haproxy.port, gatehouse: gatehouse.port };
    const proxyPid: Record<PathName, number | null> = { direct: null, haproxy: haproxy.proc.pid, gatehouse: gatehouse.proc.pid };
    const cpu = os.cpus();
    console.log(`HTTP benchmark: ${cpu.length} × ${cpu[0]?.model ?? '?'}, Node ${process.version}, ${REPS} repetitions${QUICK ? ' (QUICK)' : ''}, HAProxy nbthread = Gatehouse workers = ${THREADS}`);
    console.log(`load average at the start ${loadavg()}`);
    console.log(
      `ClickHouse 18.16 HTTP on :${ch.httpPort}, HAProxy (mode http) on :${haproxy.port}, Gatehouse HTTP on :${gatehouse.port} (pid ${gatehouse.proc.pid})`,
    );

    // Warm-up on every path alike: JIT the proxy, open keep-alive connections, warm ClickHouse. The 1M-row answers
    // must be the same bytes on every path.
    const tsvHash = new Map<PathName, string>();
    let tsvBytes = 0;
    for (const p of PATHS) {
      await httpLoad(ports[p], 'SELECT 1', '1\n', QUICK ? 200 : 1000, 8);
      const r = await httpDownload(ports[p], SQL_TSV);
      tsvHash.set(p, r.sha256);
      tsvBytes = r.bytes;
    }
    if (new Set(tsvHash.values()).size !== 1) throw new Error(`the 1M-row TSV differs between paths: ${JSON.stringify([...tsvHash])}`);
    console.log(`warm-up done at ${((Date.now() - t0) / 1000).toFixed(0)} s; 1M-row TSV = ${tsvBytes} bytes, identical on every path`);
    const cpuAtStart = { haproxy: cpuSeconds(haproxy.proc.pid), gatehouse: cpuSeconds(gatehouse.proc.pid) };

    /** Runs one measurement on path `p` and books the proxy's CPU per unit (µs per query, ms per download). */
    const measured = async <T>(p: PathName, key: string, label: string, unit: string, perUnit: number, units: number, fn: () => Promise<T>): Promise<T> => {
      const pid = proxyPid[p];
      const before = pid === null ? 0 : cpuSeconds(pid);
      const out = await fn();
      if (pid !== null && p !== 'direct') {
        let row = cpuRows.get(key);
        if (!row) cpuRows.set(key, (row = { label, unit, samples: { haproxy: [], gatehouse: [] } }));
        row.samples[p].push(((cpuSeconds(pid) - before) * perUnit) / units);
      }
      return out;
    };

    for (let rep = 0; rep < REPS; rep++) {
      // rotate the order so no path is always first (or last) after a switch of workload
      const order = PATHS.map((_, i) => PATHS[(i + rep) % PATHS.length]);
      const each = async (fn: (p: PathName) => Promise<void>): Promise<void> => {
        for (const p of order) await fn(p);
      };
      for (const [c, n] of [
        [1, SELECT1_C1],
        [8, SELECT1_C8],
      ] as const) {
        await each(async (p) => {
          const f = await measured(p, `s1-${c}`, `SELECT 1, c=${c}`, 'µs/query', 1e6, n, () => httpLoad(ports[p], 'SELECT 1', '1\n', n, c));
          metric(`s1-qps-${c}`, `SELECT 1, c=${c}, QPS`, 'queries/s', true).samples[p].push(f.qps);
          metric(`s1-p50-${c}`, `SELECT 1, c=${c}, p50`, 'ms', false).samples[p].push(f.p50ms);
          metric(`s1-p99-${c}`, `SELECT 1, c=${c}, p99`, 'ms', false).samples[p].push(f.p99ms);
        });
      }
      await each(async (p) => {
        // the median of TSV_RUNS downloads is this repetition's sample
        const secs: number[] = [];
        for (let i = 0; i < TSV_RUNS; i++) {
          const r = await measured(p, 'tsv', '1M-row TSV download', 'ms/run', 1e3, 1, () => httpDownload(ports[p], SQL_TSV));
          if (r.sha256 !== tsvHash.get(p)) throw new Error(`1M-row TSV via ${p} changed between runs`);
          secs.push(r.seconds);
        }
        // in ms: a download takes tens of ms here, and fmt() keeps two decimals
        metric('tsv-ms', '1M-row TSV, wall', 'ms', false).samples[p].push(median(secs) * 1000);
        metric('tsv-mb', '1M-row TSV, throughput', 'MB/s', true).samples[p].push(tsvBytes / median(secs) / 1e6);
      });
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
    console.log('Proxy CPU per unit of work (medians; /proc ticks are 10 ms):');
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
