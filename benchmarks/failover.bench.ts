/**
 * Issue 4's benchmark: mixed read load through Gatehouse in front of the sandbox cluster (a writer and two
 * readers, ClickHouse 18.16) while reader1 is killed (SIGKILL) and later restarted. It prints queries/s and errors
 * per second, and checks the issue's targets:
 *   1. zero client-visible errors for queries that had not started streaming (the client got an Exception, or
 *      lost its connection, before any Data packet of the query);
 *   2. throughput back to >= 90 % of the pre-kill level within 5 s of the reader's return.
 *
 * Run: npm run bench:failover [-- --duration S] [-- --kill-at S] [-- --restart-at S] [-- --workers N] [-- --rows N]
 *   defaults: 60 s of load, kill at 15 s, restart at 35 s, 8 workers, a 10 000-row third query.
 *
 * Load: N workers, each with ONE persistent native connection to the proxy (a raw client on src/protocol, as in
 * connect-per-query.ts), running in turn `SELECT 1`, an aggregation over numbers(100000) and a 10 000-row result,
 * and checking each result's row count. A worker keeps its connection after a clean Exception (the query ended) and
 * reconnects only when the connection is closed or broken.
 * Gatehouse runs as its own process (`node dist/bin/cli.js serve --config FILE`) with backend identities, a proxy
 * user (password as SHA-256 in the file), fast health checks and routing.retries 1 (see configYaml below).
 */
import { encodeSimpleQuery } from '../src/pool';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  ClientCode,
  ConnectionState,
  encodeClientPacket,
  Framer,
  ServerCode,
  Writer,
  type FramedPacket,
  type ServerException,
} from '../src/protocol';
import { httpQuery, spawnTracked, startSandboxCluster, type SandboxCluster, type TrackedProcess } from '../src/sandbox';

const GATEHOUSE_CLI = path.join(__dirname, '..', 'dist', 'bin', 'cli.js');

// ---------------------------------------------------------------------------------------------------------------
// options

function argNumber(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} expects a number`);
  return v;
}
const DURATION_S = argNumber('--duration', 60);
const KILL_AT_S = argNumber('--kill-at', 15);
const RESTART_AT_S = argNumber('--restart-at', 35);
const WORKERS = argNumber('--workers', 8);
/** Rows of the third query (a bigger result makes a kill more likely to land mid-stream). */
const BIG_ROWS = argNumber('--rows', 10_000);
/** Full seconds skipped at the start of the pre-kill baseline (connections and pools warming up). */
const WARMUP_S = 3;
/** A query not answered in this time counts as an error and its connection is dropped. */
const QUERY_TIMEOUT_MS = 15_000;
const TARGET_RATIO = 0.9;
const TARGET_RECOVERY_MS = 5_000;

const HEALTH = { interval_ms: 200, timeout_ms: 300, failures_to_ban: 2, ban_ms: 500, max_ban_ms: 2000 } as const;
const PROXY_USER = { name: 'bench', password: 'bench_pass' } as const;

// ---------------------------------------------------------------------------------------------------------------
// a raw native client with a persistent connection

/** clickhouse-client 18.16's revision (no addendum, no per-query parameters). */
const REVISION = 54412;

interface BenchQuery {
  name: string;
  sql: string;
  rows: number;
  bytes: Buffer;
}

/** Query + the empty Data block that ends its external tables (the codec's own encoder). */
function queryBytes(sql: string): Buffer {
  return encodeSimpleQuery(sql, REVISION);
}

const QUERIES: BenchQuery[] = [
  { name: 'select1', sql: 'SELECT 1', rows: 1 },
  { name: 'agg100k', sql: 'SELECT count(), sum(number), avg(number % 7) FROM numbers(100000)', rows: 1 },
  { name: `rows${BIG_ROWS}`, sql: `SELECT number, toString(number) FROM numbers(${BIG_ROWS})`, rows: BIG_ROWS },
].map((q) => ({ ...q, bytes: queryBytes(q.sql) }));

/** How one query ended, from the client's side. */
type Outcome =
  | { kind: 'ok'; rows: number }
  | { kind: 'exception'; code: number; message: string; dataSeen: boolean }
  /** Closed, broken (framing error) or timed out: the connection is unusable afterwards. */
  | { kind: 'lost'; reason: string; dataSeen: boolean };

class BenchConnection {
  private readonly state = new ConnectionState();
  private readonly framer: Framer;
  private onPacket: ((p: FramedPacket) => void) | null = null;
  private onLost: ((reason: string) => void) | null = null;
  private lostReason: string | null = null;

  private constructor(private readonly socket: net.Socket) {
    this.state.onClientHello(REVISION);
    this.framer = new Framer('server', this.state);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let packets: FramedPacket[];
      try {
        packets = this.framer.push(chunk);
      } catch (e) {
        this.lose(`undecodable server bytes: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      for (const p of packets) {
        if (this.onPacket) this.onPacket(p);
        else this.lose(`unexpected packet ${p.code} between queries`);
      }
    });
    socket.on('error', (e) => this.lose(`socket error: ${e.message}`));
    socket.on('close', () => this.lose('connection closed by the proxy'));
  }

  private lose(reason: string): void {
    if (this.lostReason !== null) return;
    this.lostReason = reason;
    this.socket.destroy();
    this.onLost?.(reason);
  }

  get usable(): boolean {
    return this.lostReason === null;
  }

  close(): void {
    this.lose('closed by the benchmark');
  }

  /** Connects and does the handshake as the proxy user. */
  static open(port: number, user: string, password: string, timeoutMs = 5_000): Promise<BenchConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const c = new BenchConnection(socket);
      const timer = setTimeout(() => c.lose('handshake timed out'), timeoutMs);
      c.onLost = (reason) => {
        clearTimeout(timer);
        reject(new Error(reason));
      };
      c.onPacket = (p) => {
        clearTimeout(timer);
        c.onPacket = null;
        c.onLost = null;
        if (p.code === ServerCode.Hello) return resolve(c);
        const ex = p.code === ServerCode.Exception ? (p.packet as ServerException).exceptions[0] : undefined;
        c.lose('handshake failed');
        reject(new Error(ex ? `Exception ${ex.code}: ${ex.message}` : `expected Hello, got packet ${p.code}`));
      };
      socket.on('connect', () => {
        const w = new Writer(64);
        encodeClientPacket(
          w,
          { code: ClientCode.Hello, clientName: 'gatehouse-failover-bench', versionMajor: 18, versionMinor: 16, revision: REVISION, database: '', user, password },
          REVISION,
        );
        socket.write(w.toBuffer());
      });
    });
  }

  /** Sends the query and reads to EndOfStream or Exception. Never rejects. */
  run(query: Buffer, timeoutMs: number): Promise<Outcome> {
    return new Promise((resolve) => {
      if (this.lostReason !== null) return resolve({ kind: 'lost', reason: this.lostReason, dataSeen: false });
      let rows = 0;
      let dataSeen = false;
      const done = (o: Outcome): void => {
        clearTimeout(timer);
        this.onPacket = null;
        this.onLost = null;
        resolve(o);
      };
      const timer = setTimeout(() => this.lose(`no answer in ${timeoutMs} ms`), timeoutMs);
      this.onLost = (reason) => done({ kind: 'lost', reason, dataSeen });
      this.onPacket = (p) => {
        if (p.code === ServerCode.Data) {
          dataSeen = true;
          rows += p.block?.rows ?? 0;
        } else if (p.code === ServerCode.Exception) {
          const ex = (p.packet as ServerException).exceptions[0];
          done({ kind: 'exception', code: ex?.code ?? -1, message: ex?.message ?? '', dataSeen });
        } else if (p.code === ServerCode.EndOfStream) {
          done({ kind: 'ok', rows });
        }
        // Progress, ProfileInfo, Totals, Extremes, Log: nothing to do.
      };
      this.socket.write(query);
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the load

type Category = 'ok' | 'before-data' | 'mid-stream' | 'connect' | 'wrong-result';

interface Sample {
  /** ms since the load started */
  start: number;
  end: number;
  worker: number;
  query: string;
  category: Category;
  detail: string;
}

function classify(q: BenchQuery, o: Outcome): { category: Category; detail: string } {
  if (o.kind === 'ok') {
    return o.rows === q.rows ? { category: 'ok', detail: '' } : { category: 'wrong-result', detail: `${o.rows} rows, expected ${q.rows}` };
  }
  const category: Category = o.dataSeen ? 'mid-stream' : 'before-data';
  return o.kind === 'exception'
    ? { category, detail: `Exception ${o.code}: ${o.message}` }
    : { category, detail: `connection lost: ${o.reason}` };
}

/** ms since the load started (monotonic clock, sub-millisecond). */
let loadStart = 0;
const now = (): number => performance.now() - loadStart;

async function worker(id: number, port: number, endAt: number, out: Sample[]): Promise<void> {
  let conn: BenchConnection | null = null;
  let i = id;
  while (now() < endAt) {
    if (!conn || !conn.usable) {
      const start = now();
      try {
        conn = await BenchConnection.open(port, PROXY_USER.name, PROXY_USER.password);
      } catch (e) {
        out.push({ start, end: now(), worker: id, query: 'connect', category: 'connect', detail: (e as Error).message });
        conn = null;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
    }
    const q = QUERIES[i++ % QUERIES.length];
    const start = now();
    const o = await conn.run(q.bytes, QUERY_TIMEOUT_MS);
    out.push({ start, end: now(), worker: id, query: q.name, ...classify(q, o) });
  }
  conn?.close();
}

// ---------------------------------------------------------------------------------------------------------------
// the proxy

interface ProxyProcess {
  proc: TrackedProcess;
  port: number;
  adminPort: number;
  /** Parsed JSON log lines, with the time they were read. */
  logs: { at: number; line: Record<string, unknown> }[];
  stop(): Promise<void>;
}

function configYaml(cluster: SandboxCluster): string {
  const r = cluster.users.reader;
  const w = cluster.users.writer;
  const sha = createHash('sha256').update(PROXY_USER.password).digest('hex');
  return [
    'listen: 127.0.0.1:0',
    'admin: 127.0.0.1:0',
    `writer: 127.0.0.1:${cluster.writer.tcpPort}`,
    'readers:',
    ...cluster.readers.map((n) => `  - { address: "127.0.0.1:${n.tcpPort}", name: ${n.name} }`),
    `read_user: { name: ${r.name}, password: ${r.password} }`,
    `write_user: { name: ${w.name}, password: ${w.password} }`,
    'users:',
    `  - { name: ${PROXY_USER.name}, password_sha256_hex: "${sha}" }`,
    `health: { ${Object.entries(HEALTH).map(([k, v]) => `${k}: ${v}`).join(', ')} }`,
    'routing: { retries: 1 }',
    'log_level: info',
    '',
  ].join('\n');
}

async function startProxy(configFile: string): Promise<ProxyProcess> {
  const proc = spawnTracked({
    kind: 'gatehouse',
    command: process.execPath,
    args: [GATEHOUSE_CLI, 'serve', '--workers', '1', '--config', configFile],
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: ProxyProcess['logs'] = [];
  let raw = '';
  let pending = '';
  const onData = (d: Buffer): void => {
    raw += d.toString();
    pending += d.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        logs.push({ at: Date.now(), line: JSON.parse(text) as Record<string, unknown> });
      } catch {
        logs.push({ at: Date.now(), line: { msg: text } });
      }
    }
  };
  proc.child.stdout!.on('data', onData);
  proc.child.stderr!.on('data', onData);
  const ready = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gatehouse not ready in 15 s:\n${raw}`)), 15_000);
    const check = (): void => {
      const m = /listening on 127\.0\.0\.1:(\d+), admin on 127\.0\.0\.1:(\d+)/.exec(raw);
      if (!m) return;
      clearTimeout(timer);
      resolve({ port: Number(m[1]), adminPort: Number(m[2]) });
    };
    proc.child.stdout!.on('data', check);
    proc.child.stderr!.on('data', check);
    void proc.exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`gatehouse exited (${JSON.stringify(e)}) before it was ready:\n${raw}`));
    });
  });
  return { proc, ...ready, logs, stop: async () => void (await proc.terminate('SIGTERM', 5_000)) };
}

interface BackendState {
  name: string;
  banned: boolean;
  outstanding: number;
}

async function proxyStatus(adminPort: number): Promise<BackendState[] | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${adminPort}/status`, { signal: AbortSignal.timeout(500) });
    const body = (await res.json()) as { backends: BackendState[] };
    return body.backends;
  } catch {
    return null;
  }
}

/** The server's own count of queries since it started (system.events 'Query'); null when it does not answer. */
async function serverQueries(httpPort: number): Promise<number | null> {
  try {
    return Number((await httpQuery(httpPort, "SELECT value FROM system.events WHERE event = 'Query'", undefined, 500)).trim() || '0');
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// figures

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const fmtS = (ms: number): string => (ms / 1000).toFixed(2);

/** Seconds of a per-second sample: [s, s+1). */
interface SecondRow {
  ok: number;
  beforeData: number;
  midStream: number;
  connect: number;
  wrong: number;
  latencies: number[];
  status: BackendState[] | null;
  readerQueries: (number | null)[];
}

// ---------------------------------------------------------------------------------------------------------------
// main

async function main(): Promise<void> {
  if (!fs.existsSync(GATEHOUSE_CLI)) throw new Error(`${GATEHOUSE_CLI} missing: run \`npm run build\` first (npm run bench:failover does)`);
  if (!(KILL_AT_S < RESTART_AT_S && RESTART_AT_S < DURATION_S)) throw new Error('expected --kill-at < --restart-at < --duration');
  const cpus = os.cpus();
  console.log(`failover benchmark: ${cpus.length} × ${cpus[0]?.model.trim()}, Node ${process.version}`);
  console.log(`load average at the start ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`${WORKERS} workers, persistent connections, queries in turn: ${QUERIES.map((q) => `\`${q.sql}\``).join(', ')}`);
  console.log(`${DURATION_S} s of load; reader1 SIGKILLed at ${KILL_AT_S} s, restarted at ${RESTART_AT_S} s`);

  const cluster = await startSandboxCluster({ readers: 2 });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-failover-bench-'));
  let proxy: ProxyProcess | null = null;
  try {
    const configFile = path.join(tmp, 'gatehouse.yaml');
    fs.writeFileSync(configFile, configYaml(cluster));
    console.log(`\nconfig (${configFile}):\n${fs.readFileSync(configFile, 'utf8').replace(/password: [^ ,}]+/g, 'password: ***')}`);
    proxy = await startProxy(configFile);
    const proxyPid = proxy.proc.pid;
    console.log(
      `cluster: writer :${cluster.writer.tcpPort}, ${cluster.readers.map((n) => `${n.name} :${n.tcpPort}`).join(', ')}; ` +
        `Gatehouse :${proxy.port} (admin :${proxy.adminPort}, pid ${proxyPid})`,
    );

    // Warm the proxy (auth, pools on both readers) without measuring.
    {
      const warm = await BenchConnection.open(proxy.port, PROXY_USER.name, PROXY_USER.password);
      for (let i = 0; i < 20; i++) await warm.run(QUERIES[i % QUERIES.length].bytes, QUERY_TIMEOUT_MS);
      warm.close();
    }

    const samples: Sample[] = [];
    const events: { at: number; what: string }[] = [];
    loadStart = performance.now();
    /** Epoch ms at the start: maps the proxy's log times onto the load's clock. */
    const t0 = Date.now();
    const rel = now;
    const endAt = DURATION_S * 1000;
    const seconds: SecondRow[] = Array.from({ length: DURATION_S }, () => ({
      ok: 0, beforeData: 0, midStream: 0, connect: 0, wrong: 0, latencies: [], status: null, readerQueries: [],
    }));
    const reader1 = cluster.readers[0];

    // Once a second: the proxy's view of the backends and each reader's own query counter.
    const prevQueries: (number | null)[] = await Promise.all(cluster.readers.map((n) => serverQueries(n.httpPort)));
    let sampling = true;
    const sampler = (async () => {
      for (let s = 0; s < DURATION_S && sampling; s++) {
        const wait = (s + 1) * 1000 - now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const [status, ...counts] = await Promise.all([proxyStatus(proxy!.adminPort), ...cluster.readers.map((n) => serverQueries(n.httpPort))]);
        seconds[s].status = status;
        seconds[s].readerQueries = counts.map((c, i) => {
          const prev = prevQueries[i];
          prevQueries[i] = c;
          // A restarted server counts from zero.
          return c === null ? null : prev === null || c < prev ? c : c - prev;
        });
      }
    })();

    const faults = (async () => {
      while (now() < KILL_AT_S * 1000) await new Promise((r) => setTimeout(r, KILL_AT_S * 1000 - now() + 1));
      events.push({ at: rel(), what: 'reader1: SIGKILL sent' });
      await reader1.kill('SIGKILL');
      events.push({ at: rel(), what: 'reader1: process exited' });
      while (now() < RESTART_AT_S * 1000) await new Promise((r) => setTimeout(r, RESTART_AT_S * 1000 - now() + 1));
      events.push({ at: rel(), what: 'reader1: restart started' });
      await reader1.restart();
      events.push({ at: rel(), what: 'reader1: answering again (HTTP /ping and TCP port)' });
    })();

    await Promise.all(Array.from({ length: WORKERS }, (_, id) => worker(id, proxy!.port, endAt, samples)));
    const loadEnded = rel();
    await faults;
    sampling = false;
    await sampler;

    // ---- per-second table
    for (const s of samples) {
      const sec = Math.floor(s.end / 1000);
      const row = seconds[Math.min(sec, DURATION_S - 1)];
      if (s.category === 'ok') {
        row.ok++;
        row.latencies.push(s.end - s.start);
      } else if (s.category === 'before-data') row.beforeData++;
      else if (s.category === 'mid-stream') row.midStream++;
      else if (s.category === 'connect') row.connect++;
      else row.wrong++;
    }
    console.log(`\nload ran ${fmtS(loadEnded)} s (the last queries finished after the ${DURATION_S} s mark go in the last second)`);
    console.log('\nPer second. QPS = queries answered in full with the right row count. Errors: "before data" = Exception or');
    console.log('connection lost before any Data packet of the query; "mid-stream" = after one. Readers: the proxy\'s /status');
    console.log('(B = banned; o = outstanding queries) and the queries the server itself counted that second (system.events).');
    console.log('| s | QPS | err before data | err mid-stream | connect err | wrong result | p50 ms | max ms | reader1 | reader2 |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
    seconds.forEach((row, s) => {
      const readerCell = (i: number): string => {
        const st = row.status?.find((b) => b.name === cluster.readers[i].name);
        const state = st ? `${st.banned ? 'B' : 'up'} o=${st.outstanding}` : '?';
        const q = row.readerQueries[i];
        return `${state}, ${q === null || q === undefined ? 'down' : `${q} q/s`}`;
      };
      const marks = [
        ...events.filter((e) => Math.floor(e.at / 1000) === s).map((e) => e.what.replace(/^reader1: /, 'reader1 ')),
      ];
      console.log(
        `| ${s}${marks.length ? ` (${marks.join('; ')})` : ''} | ${row.ok} | ${row.beforeData} | ${row.midStream} | ${row.connect} | ${row.wrong} | ` +
          `${row.latencies.length ? percentile(row.latencies, 50).toFixed(1) : '-'} | ${row.latencies.length ? Math.max(...row.latencies).toFixed(0) : '-'} | ` +
          `${readerCell(0)} | ${readerCell(1)} |`,
      );
    });

    // ---- timeline
    const bans = proxy.logs.filter((l) => l.line.msg === 'backend banned' || l.line.msg === 'backend back in rotation');
    const timeline = [
      ...events.map((e) => ({ at: e.at, text: e.what })),
      ...bans.map((l) => {
        const at = (typeof l.line.time === 'number' ? l.line.time : l.at) - t0;
        return { at, text: `proxy log: ${JSON.stringify(l.line)}` };
      }),
    ].sort((a, b) => a.at - b.at);
    console.log('\nTimeline (s since the load started):');
    for (const e of timeline) console.log(`  ${fmtS(e.at).padStart(6)}  ${e.text}`);

    // ---- errors
    const errors = samples.filter((s) => s.category !== 'ok');
    const groups = new Map<string, Sample[]>();
    for (const e of errors) {
      const key = `${e.category} | ${e.detail.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDR').slice(0, 200)}`;
      groups.set(key, [...(groups.get(key) ?? []), e]);
    }
    console.log(`\nErrors: ${errors.length} of ${samples.length} queries`);
    for (const [key, list] of groups) {
      const when = list.map((e) => fmtS(e.end)).slice(0, 12).join(', ');
      const queries = [...new Set(list.map((e) => e.query))].join(',');
      console.log(`  ${String(list.length).padStart(5)} × ${key} [${queries}] at ${when}${list.length > 12 ? ', …' : ''}`);
    }
    const other = proxy.logs.filter((l) => {
      const lvl = l.line.level;
      return typeof lvl === 'number' && lvl >= 40 && l.line.msg !== 'backend banned';
    });
    const otherCounts = new Map<string, number>();
    for (const l of other) otherCounts.set(String(l.line.msg), (otherCounts.get(String(l.line.msg)) ?? 0) + 1);
    console.log(`Proxy warn/error log lines besides bans: ${other.length}${[...otherCounts].map(([m, n]) => `\n  ${n} × ${m}`).join('')}`);

    // ---- targets
    const okEnds = samples.filter((s) => s.category === 'ok').map((s) => s.end).sort((a, b) => a - b);
    const countIn = (from: number, to: number): number => {
      let lo = 0;
      let hi = okEnds.length;
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        if (okEnds[m] < from) lo = m + 1;
        else hi = m;
      }
      let n = 0;
      for (let i = lo; i < okEnds.length && okEnds[i] < to; i++) n++;
      return n;
    };
    const preKill = median(seconds.slice(WARMUP_S, KILL_AT_S).map((r) => r.ok));
    const outageRows = seconds.slice(KILL_AT_S + 1, RESTART_AT_S).map((r) => r.ok);
    const threshold = TARGET_RATIO * preKill;
    const restartAt = events.find((e) => e.what === 'reader1: restart started')!.at;
    const answeringAt = events.find((e) => e.what.startsWith('reader1: answering'))!.at;
    const backInRotation = timeline.find((e) => e.at >= restartAt && e.text.includes('back in rotation') && e.text.includes('"reader1"'));
    // The first 1 s window, sliding in 100 ms steps from the restart, that reaches 90 % of the pre-kill median.
    let recoveredEnd: number | null = null;
    for (let from = restartAt; from + 1000 <= loadEnded; from += 100) {
      if (countIn(from, from + 1000) >= threshold) {
        recoveredEnd = from + 1000;
        break;
      }
    }
    let lowest = Infinity;
    let lowestAt = 0;
    for (let from = KILL_AT_S * 1000; from + 1000 <= restartAt; from += 100) {
      const n = countIn(from, from + 1000);
      if (n < lowest) {
        lowest = n;
        lowestAt = from;
      }
    }
    const beforeDataErrors = samples.filter((s) => s.category === 'before-data' || s.category === 'connect').length;
    const midStreamErrors = samples.filter((s) => s.category === 'mid-stream').length;
    const wrongResults = samples.filter((s) => s.category === 'wrong-result').length;

    console.log('\nSummary');
    console.log(`  queries: ${samples.length} (${okEnds.length} ok); errors before data ${beforeDataErrors}, mid-stream ${midStreamErrors}, wrong results ${wrongResults}`);
    console.log(`  pre-kill median QPS (seconds ${WARMUP_S}–${KILL_AT_S - 1}): ${preKill}; 90 % = ${threshold.toFixed(1)}`);
    console.log(
      `  reader1 down (seconds ${KILL_AT_S + 1}–${RESTART_AT_S - 1}): median QPS ${median(outageRows)} (${(median(outageRows) / preKill * 100).toFixed(0)} %), ` +
        `lowest 1 s window ${lowest} at ${fmtS(lowestAt)} s (${((lowest / preKill) * 100).toFixed(0)} %)`,
    );
    console.log(
      `  restart started at ${fmtS(restartAt)} s; reader1 answering at ${fmtS(answeringAt)} s; ` +
        `back in rotation (proxy log) at ${backInRotation ? `${fmtS(backInRotation.at)} s` : 'never'}`,
    );
    if (recoveredEnd === null) console.log('  no 1 s window after the restart reached 90 % of the pre-kill median');
    else {
      console.log(
        `  first 1 s window at >= 90 % after the restart: [${fmtS(recoveredEnd - 1000)}, ${fmtS(recoveredEnd)}) s = ` +
          `${fmtS(recoveredEnd - restartAt)} s after the restart started, ${fmtS(recoveredEnd - answeringAt)} s after reader1 answered`,
      );
    }
    const recoveredInTime = recoveredEnd !== null && recoveredEnd - answeringAt <= TARGET_RECOVERY_MS;
    console.log('\nTargets');
    console.log(`  zero client-visible errors for queries that had not started streaming: ${beforeDataErrors === 0 ? 'met' : `MISSED (${beforeDataErrors})`}`);
    console.log(
      `  throughput >= 90 % of pre-kill within 5 s of the reader's return (reader1 answering): ${recoveredInTime ? 'met' : 'MISSED'}` +
        (recoveredEnd !== null && recoveredEnd <= answeringAt ? ' (throughput was already >= 90 % before reader1 answered)' : ''),
    );

    // ---- the proxy itself
    const alive = proxy.proc.running && proxy.proc.pid === proxyPid;
    const final = await proxyStatus(proxy.adminPort);
    console.log(`\nGatehouse pid ${proxyPid} ${alive ? 'still running (never restarted)' : 'NOT RUNNING'}; /status at the end: ` +
      (final ? final.map((b) => `${b.name} ${b.banned ? 'banned' : 'up'} o=${b.outstanding}`).join(', ') : 'no answer'));
    // What the client does not see: failed connects, discarded connections, errors the proxy counted.
    try {
      const text = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
      const lines = text.split('\n').filter((l) => /^gatehouse_(pool_connects_total|pool_discards_total|query_errors_total|pool_wait_timeouts_total)\{/.test(l));
      console.log(`Proxy counters at the end:${lines.length ? lines.map((l) => `\n  ${l}`).join('') : ' none'}`);
    } catch (e) {
      console.log(`Proxy /metrics: ${(e as Error).message}`);
    }
    console.log(`load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    await proxy?.stop();
    await cluster.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
