import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTracked, type TrackedProcess } from '../../src/sandbox/process-registry';

/** The built CLI (scripts/setup.sh builds dist/ before `npm test`). */
export const GATEHOUSE_CLI = join(__dirname, '..', '..', 'dist', 'bin', 'cli.js');

export interface Gatehouse {
  port: number;
  adminPort: number | null;
  /** The HTTP frontend's port (`--http 127.0.0.1:0` or an `http:` section), null without one. */
  httpPort: number | null;
  pid: number;
  process: TrackedProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** Resident memory of the proxy process, from /proc. */
  rssBytes(): number;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts `gatehouse serve` as its own process (as an operator runs it), waits for its ready line
 * and returns the port it listens on. `--listen 127.0.0.1:0` picks a free port. `env` adds variables to the
 * proxy's environment (e.g. for users with `password_env`).
 */
export async function startGatehouse(args: string[], timeoutMs = 15_000, env?: NodeJS.ProcessEnv): Promise<Gatehouse> {
  // One process unless the test asks for workers: pools, caches and metrics are per process, and tests count them.
  const workers = args.includes('--workers') ? [] : ['--workers', '1'];
  const full = ['serve', '--listen', '127.0.0.1:0', ...workers, ...args];
  const proc = spawnTracked({
    kind: 'gatehouse',
    command: process.execPath,
    args: [GATEHOUSE_CLI, ...full],
    stdio: ['ignore', 'pipe', 'pipe'],
    // Extra variables on top of the test's own environment (password_env users).
    env: env ? { ...process.env, ...env } : undefined,
  });
  let out = '';
  proc.child.stdout!.on('data', (d) => (out += d));
  proc.child.stderr!.on('data', (d) => (out += d));
  const ready = await new Promise<{ port: number; admin: number | null; http: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gatehouse did not become ready in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const a = /admin on 127\.0\.0\.1:(\d+)/.exec(out);
        const h = /HTTP on 127\.0\.0\.1:(\d+)/.exec(out);
        resolve({ port: Number(m[1]), admin: a ? Number(a[1]) : null, http: h ? Number(h[1]) : null });
      }
    };
    proc.child.stdout!.on('data', check);
    proc.child.stderr!.on('data', check);
    void proc.exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`gatehouse exited (${JSON.stringify(e)}) before it was ready:\n${out}`));
    });
  });
  return {
    port: ready.port,
    adminPort: ready.admin,
    httpPort: ready.http,
    pid: proc.pid,
    process: proc,
    output: () => out,
    rssBytes: () => {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    metrics: async () => {
      if (!ready.admin) throw new Error('gatehouse started without --admin');
      const res = await fetch(`http://127.0.0.1:${ready.admin}/metrics`);
      return res.text();
    },
    stop: async () => {
      await proc.terminate('SIGTERM', 5_000);
    },
  };
}
