/**
 * How far can a Node.js proxy get? Side by side in one run on ONE throw-away ClickHouse 18.16: direct, HAProxy (the
 * anchor of issues 3 and 7), the "Node floor" (benchmarks/node-floor-relay.ts: the least a Node proxy can do; TCP:
 * a bare pipe per connection, parsing nothing; HTTP: node:http + undici dispatch, the request body read, the answer
 * relayed with backpressure) and Gatehouse (native and HTTP frontends, pass-through credentials, no cache).
 *
 * Run: npm run bench:floor [-- --reps N] [-- --quick]
 *
 * Every proxy gets one thread of execution (HAProxy nbthread 1, Gatehouse --workers 1, the floor relay is one Node
 * process). Rows: native `SELECT 1` QPS at c=1 and c=8 (clickhouse-benchmark), a 1M-row native result at c=1, HTTP
 * `SELECT 1` QPS at c=1 and c=8 (undici load generator). Each measurement runs for every path back to back, the order
 * rotating between repetitions; medians of the repetitions are printed, with each proxy's CPU per query (/proc).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startClickHouse, type ClickHouseServer, type TrackedProcess } from '../src/sandbox';
import { argValue, clickhouseBenchmark, fmt, httpLoad, loadavg, median, startHaproxyHttp, treeCpuSeconds } from './bench-util';
import { startGatehouse, startHaproxy, startScriptProcess, type Started } from './proxy-processes';

const REPS = Number(argValue('--reps') ?? 5);
const QUICK = process.argv.includes('--quick');
const N_C1 = QUICK ? 300 : 3000;
const N_C8 = QUICK ? 800 : 8000;
const N_1M = QUICK ? 2 : 20;
const WARM = QUICK ? 500 : 6000;
const SQL_1M = 'SELECT number, toString(number) FROM numbers(1000000)';

type PathName = 'direct' | 'haproxy' | 'floor' | 'gatehouse';
const PATHS: readonly PathName[] = ['direct', 'haproxy', 'floor', 'gatehouse'];
const PROXIES: readonly PathName[] = ['haproxy', 'floor', 'gatehouse'];

function startFloor(mode: 'tcp' | 'http', target: number): Promise<Started> {
  return startScriptProcess(`floor-${mode}`, 'node-floor-relay', [mode, '--target', String(target)], /floor relay listening on 127\.0\.0\.1:(\d+)/);
}

interface Row {
  label: string;
  qps: Record<PathName, number[]>;
  cpuUs: Record<PathName, number[]>;
}
const rows = new Map<string, Row>();
function row(key: string, label: string): Row {
  let r = rows.get(key);
  if (!r) {
    const empty = (): Record<PathName, number[]> => ({ direct: [], haproxy: [], floor: [], gatehouse: [] });
    rows.set(key, (r = { label, qps: empty(), cpuUs: empty() }));
  }
  return r;
}

function render(): string {
  const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(2) : '—');
  const out = [
    '| Row (queries/s) | direct | HAProxy | Node floor | Gatehouse | floor/HAProxy | GH/HAProxy | GH/floor | CPU µs/query HAProxy / floor / GH |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows.values()) {
    const q = Object.fromEntries(PATHS.map((p) => [p, median(r.qps[p])])) as Record<PathName, number>;
    const cpu = PROXIES.map((p) => fmt(median(r.cpuUs[p]))).join(' / ');
    out.push(
      `| ${r.label} | ${fmt(q.direct)} | ${fmt(q.haproxy)} | ${fmt(q.floor)} | ${fmt(q.gatehouse)} | ${ratio(q.floor, q.haproxy)} | ` +
        `${ratio(q.gatehouse, q.haproxy)} | ${ratio(q.gatehouse, q.floor)} | ${cpu} |`,
    );
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-floor-'));
  let ch: ClickHouseServer | null = null;
  const procs: TrackedProcess[] = [];
  try {
    ch = await startClickHouse({ name: 'floor' });
    const chPort = ch.tcpPort;
    const probe = async (port: number): Promise<boolean> => (await clickhouseBenchmark(port, 'SELECT 1', 1, 1, dir, 10_000)).qps > 0;
    const haproxy = await startHaproxy(dir, 'tcp', chPort, probe, 1);
    const haproxyHttp = await startHaproxyHttp(dir, ch.httpPort, 1);
    const floorTcp = await startFloor('tcp', chPort);
    const floorHttp = await startFloor('http', ch.httpPort);
    const ghCfg = { http: { backend_ports: { writer: ch.httpPort } } };
    const gh = await startGatehouse(dir, 'floor', ['--writer', `127.0.0.1:${chPort}`, '--http', '127.0.0.1:0'], ghCfg, undefined, 1);
    if (gh.httpPort === null) throw new Error('Gatehouse did not report its HTTP port');
    procs.push(haproxy.proc, haproxyHttp.proc, floorTcp.proc, floorHttp.proc, gh.proc);

    const tcpPort: Record<PathName, number> = { direct: chPort, haproxy: haproxy.port, floor: floorTcp.port, gatehouse: gh.port };
    const httpPort: Record<PathName, number> = { direct: ch.httpPort, haproxy: haproxyHttp.port, floor: floorHttp.port, gatehouse: gh.httpPort };
    const tcpPid: Partial<Record<PathName, number>> = { haproxy: haproxy.proc.pid, floor: floorTcp.proc.pid, gatehouse: gh.proc.pid };
    const httpPid: Partial<Record<PathName, number>> = { haproxy: haproxyHttp.proc.pid, floor: floorHttp.proc.pid, gatehouse: gh.proc.pid };

    const cpu = os.cpus();
    console.log(`Node floor benchmark: ${cpu.length} × ${cpu[0]?.model ?? '?'}, Node ${process.version}, ${REPS} repetitions${QUICK ? ' (QUICK)' : ''}, one thread per proxy`);
    console.log(`load average at the start ${loadavg()}`);

    for (const p of PATHS) {
      await clickhouseBenchmark(tcpPort[p], 'SELECT 1', WARM, 8, dir);
      await clickhouseBenchmark(tcpPort[p], SQL_1M, 2, 1, dir);
      await httpLoad(httpPort[p], 'SELECT 1', '1\n', WARM, 8);
    }
    console.log(`warm-up done at ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const measure = async (key: string, label: string, pids: Partial<Record<PathName, number>>, p: PathName, n: number, fn: () => Promise<number>): Promise<void> => {
      const pid = pids[p];
      const before = pid === undefined ? 0 : treeCpuSeconds(pid);
      const qps = await fn();
      const r = row(key, label);
      r.qps[p].push(qps);
      if (pid !== undefined) r.cpuUs[p].push(((treeCpuSeconds(pid) - before) * 1e6) / n);
    };
    for (let rep = 0; rep < REPS; rep++) {
      const order = PATHS.map((_, i) => PATHS[(i + rep) % PATHS.length]);
      for (const [c, n] of [[1, N_C1], [8, N_C8]] as const) {
        for (const p of order) {
          await measure(`n${c}`, `native SELECT 1, c=${c}`, tcpPid, p, n, async () => (await clickhouseBenchmark(tcpPort[p], 'SELECT 1', n, c, dir)).qps);
        }
      }
      for (const p of order) {
        await measure('m1', 'native 1M rows, c=1', tcpPid, p, N_1M, async () => (await clickhouseBenchmark(tcpPort[p], SQL_1M, N_1M, 1, dir)).qps);
      }
      for (const [c, n] of [[1, N_C1], [8, N_C8]] as const) {
        for (const p of order) {
          await measure(`h${c}`, `HTTP SELECT 1, c=${c}`, httpPid, p, n, async () => (await httpLoad(httpPort[p], 'SELECT 1', '1\n', n, c)).qps);
        }
      }
      console.log(`repetition ${rep + 1}/${REPS} done at ${((Date.now() - t0) / 1000).toFixed(0)} s (load average ${loadavg()})`);
    }
    console.log('');
    console.log(`Medians of ${REPS} repetitions (QPS; ratios of QPS, > 1 means the first is faster).`);
    console.log(render());
    console.log(`Total time ${((Date.now() - t0) / 1000).toFixed(0)} s; load average at the end ${loadavg()}.`);
  } finally {
    for (const p of procs) await p.terminate('SIGTERM', 10_000);
    if (ch) await ch.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
