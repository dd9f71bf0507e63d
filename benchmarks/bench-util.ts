/**
 * Helpers shared by the benchmarks that drive the ClickHouse 18.16 command-line tools (proxy.bench.ts,
 * cache.bench.ts): running a short-lived client, clickhouse-benchmark and its report, /proc readings, waiting for a
 * server's ready line, and the small statistics and formatting both tables use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TrackedProcess } from '../src/sandbox';

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
// statistics and formatting

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
