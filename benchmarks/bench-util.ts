/**
 * Helpers shared by the benchmarks that drive the ClickHouse 18.16 command-line tools (proxy.bench.ts,
 * cache.bench.ts): running a short-lived client, clickhouse-benchmark and its report, /proc readings, waiting for a
 * server's ready line, and the small statistics and formatting both tables use. For the HTTP benchmark
 * (http.bench.ts): a keep-alive load generator on undici, a timed download, and HAProxy in HTTP mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Pool } from 'undici';
import { freePort, httpPing, spawnTracked, type TrackedProcess } from '../src/sandbox';

export const BENCHMARK_BIN = '/usr/bin/clickhouse-benchmark';

/** The value after `name` on the command line, if any. */
export function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// processes

export interface RunOutput {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  seconds: number;
}

/**
 * Clients `run` has started and not yet seen exit. A benchmark interrupted by a signal kills them: they are not
 * tracked by the sandbox registry, and a SIGTERM to the benchmark alone (not its process group) would leave them.
 */
export const runningClients = new Set<ChildProcess>();

/**
 * Runs a short-lived client to completion. `stdin` is a string, a file path (`{ file }`) or nothing (/dev/null:
 * clickhouse-client 18.16 with an inherited terminal-less stdin can spin). stdout is counted, and kept only when
 * `keepStdout`.
 */
export function run(
  command: string,
  args: readonly string[],
  opts: { stdin?: string | { file: string }; keepStdout?: boolean; timeoutMs?: number } = {},
): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const stdinFd = typeof opts.stdin === 'object' ? fs.openSync(opts.stdin.file, 'r') : null;
    const t0 = process.hrtime.bigint();
    const child = spawn(command, [...args], {
      stdio: [stdinFd ?? (typeof opts.stdin === 'string' ? 'pipe' : 'ignore'), 'pipe', 'pipe'],
    });
    runningClients.add(child);
    if (stdinFd !== null) fs.closeSync(stdinFd);
    if (typeof opts.stdin === 'string') child.stdin!.end(opts.stdin);
    let stdout = '';
    let stderr = '';
    let stdoutBytes = 0;
    child.stdout!.on('data', (d: Buffer) => {
      stdoutBytes += d.length;
      if (opts.keepStdout !== false) stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      runningClients.delete(child);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      runningClients.delete(child);
      resolve({ code, stdout, stderr, stdoutBytes, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime + stime in clock ticks (USER_HZ, 100 on Linux), whole thread group
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds of a process and all its descendants (a Gatehouse primary and its cluster workers), from /proc: the
 * children are found by their parent pid, since /proc/<pid>/stat counts a child only after it exited and was waited for.
 */
export function treeCpuSeconds(pid: number): number {
  const parents = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(fs.readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(name));
      parents.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const own = cpuSeconds(p);
    if (!Number.isNaN(own)) total += own;
    stack.push(...(parents.get(p) ?? []));
  }
  return total;
}

export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Waits until the process prints a line matching `re`; returns the match. */
export function waitForOutput(proc: TrackedProcess, re: RegExp, what: string, timeoutMs = 15_000): Promise<RegExpExecArray> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.child.stdout?.on('data', onData);
    proc.child.stderr?.on('data', onData);
    void proc.exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${JSON.stringify(e)}) before it was ready:\n${out}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// clickhouse-benchmark

export interface BenchmarkFigures {
  qps: number;
  p50ms: number;
  p99ms: number;
  resultMiBps: number;
}

/** clickhouse-benchmark 18.16: QPS and percentiles from its --json report (full precision; the text has 1 ms steps). */
export async function clickhouseBenchmark(
  port: number,
  sql: string,
  iterations: number,
  concurrency: number,
  dir: string,
  timeoutMs = 300_000,
): Promise<BenchmarkFigures> {
  const json = path.join(dir, `bench-${port}-${concurrency}.json`);
  fs.rmSync(json, { force: true });
  const res = await run(
    BENCHMARK_BIN,
    ['--host', '127.0.0.1', '--port', String(port), '-i', String(iterations), '-c', String(concurrency), '-d', '0', '--json', json],
    { stdin: `${sql}\n`, timeoutMs },
  );
  const text = res.stdout + res.stderr;
  const executed = /Queries executed: (\d+)/.exec(text);
  if (res.code !== 0 || !executed || Number(executed[1]) !== iterations || /Exception/.test(text)) {
    throw new Error(`clickhouse-benchmark on port ${port} failed (exit ${res.code}):\n${text.slice(-2000)}`);
  }
  const report = JSON.parse(fs.readFileSync(json, 'utf8')) as {
    statistics: { QPS: number };
    query_time_percentiles: Record<string, number>;
  };
  // The JSON's MiBPS_result is wrong in 18.16 (it repeats QPS); the text line has the right figure.
  const mib = /result MiB\/s: (\d+(?:\.\d+)?)/.exec(text);
  return {
    qps: report.statistics.QPS,
    p50ms: report.query_time_percentiles['50'] * 1000,
    p99ms: report.query_time_percentiles['99'] * 1000,
    resultMiBps: mib ? Number(mib[1]) : NaN,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP: load generator, download, HAProxy in HTTP mode

export const HAPROXY_BIN = '/usr/sbin/haproxy';

export interface HttpLoadFigures {
  qps: number;
  p50ms: number;
  p99ms: number;
}

/**
 * `requests` POSTs of `sql` to http://127.0.0.1:port/ from `concurrency` loops over one undici keep-alive pool of
 * that many connections (as an application with a pooled HTTP client sends them); every answer must be 200 and
 * `expectBody`. QPS over the wall time of the whole batch; latencies per request, client side.
 */
export async function httpLoad(port: number, sql: string, expectBody: string, requests: number, concurrency: number): Promise<HttpLoadFigures> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests) {
      next++;
      const t0 = process.hrtime.bigint();
      const res = await pool.request({ path: '/', method: 'POST', body: sql });
      const body = await res.body.text();
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (res.statusCode !== 200 || body !== expectBody) {
        throw new Error(`POST ${JSON.stringify(sql)} to :${port}: HTTP ${res.statusCode} ${JSON.stringify(body.slice(0, 300))}`);
      }
    }
  };
  try {
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { qps: requests / seconds, p50ms: percentile(latencies, 50), p99ms: percentile(latencies, 99) };
  } finally {
    await pool.close();
  }
}

/** POSTs `sql` and reads the whole answer as it streams (nothing kept): wall seconds, bytes and their SHA-256. */
export async function httpDownload(port: number, sql: string): Promise<{ seconds: number; bytes: number; sha256: string }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    const t0 = process.hrtime.bigint();
    const res = await pool.request({ path: '/', method: 'POST', body: sql });
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (res.statusCode !== 200) throw new Error(`download from :${port}: HTTP ${res.statusCode}`);
    return { seconds, bytes, sha256: hash.digest('hex') };
  } finally {
    await pool.close();
  }
}

/**
 * HAProxy as an HTTP (layer 7) reverse proxy in front of one ClickHouse HTTP port: keep-alive on both sides and
 * server connections shared between client connections (`http-reuse always`), the set-up one would run in front of
 * ClickHouse's HTTP interface. Resolves once /ping answers through it.
 */
export async function startHaproxyHttp(dir: string, backendHttpPort: number, threads: number): Promise<{ port: number; proc: TrackedProcess }> {
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy-http.cfg');
  // maxconn below the fd limit: haproxy refuses to start when it cannot raise RLIMIT_NOFILE to maxconn × 2 + x.
  fs.writeFileSync(
    cfg,
    [
      'global',
      '    maxconn 4000',
      // Explicit: HAProxy 2.6 otherwise starts one thread per core.
      `    nbthread ${threads}`,
      'defaults',
      '    mode http',
      '    option http-keep-alive',
      '    timeout connect 5s',
      '    timeout client 1h',
      '    timeout server 1h',
      '    timeout http-keep-alive 1h',
      '    maxconn 4000',
      'frontend bench',
      `    bind 127.0.0.1:${port}`,
      '    default_backend clickhouse',
      'backend clickhouse',
      // ClickHouse closes idle keep-alive connections after 3 s (keep_alive_timeout); HAProxy notices and reconnects.
      '    http-reuse always',
      `    server ch 127.0.0.1:${backendHttpPort}`,
      '',
    ].join('\n'),
  );
  const proc = spawnTracked({ kind: 'haproxy', command: HAPROXY_BIN, args: ['-db', '-f', cfg], stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!proc.running) throw new Error(`haproxy exited during start-up:\n${out}`);
    if (await httpPing(port)) return { port, proc };
    if (Date.now() > deadline) throw new Error(`haproxy did not forward /ping in time:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// statistics and formatting

/** The p-th percentile (nearest rank) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export function loadavg(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}
