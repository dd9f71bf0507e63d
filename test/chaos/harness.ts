/**
 * The chaos suite's harness: a `gatehouse serve` (the built CLI, a YAML config) in front of the real sandbox
 * cluster, plus the checks every scenario ends with: the proxy process is alive, a normal client's query works,
 * the backend pools are back to idle (no busy, connecting or waiting connections) and memory is bounded. Later parts
 * (faults, soak, worker kills) reuse `ChaosProxy` and `assertRecovered`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFramedBlock } from '../../src/pool';
import { PROXY_MAX_REVISION, ServerCode, type ServerException } from '../../src/protocol';
import { freePort } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { NativeClient } from '../helpers/native-client';

export interface ChaosProxy {
  gh: Gatehouse;
  /** Credentials a normal client logs in with. */
  user: string;
  password: string;
  stop(): Promise<void>;
}

/**
 * Starts the proxy with `config` (JSON is YAML) and an admin port; `env` for password_env users; `args` for extra CLI
 * flags (`--workers 2` for the worker-kill fault: the flag wins over the config's one worker).
 */
export async function startChaosProxy(config: Record<string, unknown>, login: { user: string; password: string }, env?: NodeJS.ProcessEnv, args: string[] = []): Promise<ChaosProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-chaos-'));
  const file = join(dir, 'gatehouse.yaml');
  const admin = `127.0.0.1:${await freePort()}`;
  writeFileSync(file, JSON.stringify({ lifecycle: { workers: 1 }, admin, ...config }, null, 2));
  const gh = await startGatehouse(['--config', file, ...args], 20_000, env);
  return {
    gh,
    ...login,
    stop: async () => {
      await gh.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sums of the pool gauges (gatehouse_pool_connections by state, gatehouse_pool_waiting, max). */
export interface PoolGauges {
  idle: number;
  busy: number;
  connecting: number;
  waiting: number;
  max: number;
  clients: number;
}

export function parsePoolGauges(metrics: string): PoolGauges {
  const g: PoolGauges = { idle: 0, busy: 0, connecting: 0, waiting: 0, max: 0, clients: 0 };
  for (const line of metrics.split('\n')) {
    const m = /^(gatehouse_pool_connections|gatehouse_pool_waiting|gatehouse_pool_max_connections|gatehouse_client_connections)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (m[1] === 'gatehouse_pool_waiting') g.waiting += v;
    else if (m[1] === 'gatehouse_pool_max_connections') g.max += v;
    else if (m[1] === 'gatehouse_client_connections') g.clients += v;
    else {
      const state = /state="(\w+)"/.exec(m[2] ?? '')?.[1] as 'idle' | 'busy' | 'connecting' | undefined;
      if (state) g[state] += v;
    }
  }
  return g;
}

export async function poolGauges(p: ChaosProxy): Promise<PoolGauges> {
  return parsePoolGauges(await p.gh.metrics());
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits until no backend connection is busy, connecting or waited for, and the idle ones are within the pools'
 * maxima (a leak shows as busy connections that never come back). Returns the gauges and how long it took.
 */
export async function poolsBackToIdle(p: ChaosProxy, timeoutMs = 20_000): Promise<PoolGauges & { tookMs: number }> {
  const t0 = Date.now();
  let g = await poolGauges(p);
  while (g.busy + g.connecting + g.waiting > 0 || g.idle > g.max) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`pools not idle after ${timeoutMs} ms: ${JSON.stringify(g)}`);
    await sleep(200);
    g = await poolGauges(p);
  }
  return { ...g, tookMs: Date.now() - t0 };
}

/** A NativeClient after a complete handshake (Hello, server Hello, addendum). Throws on an Exception. */
export async function loggedIn(port: number, user: string, password: string, revision = PROXY_MAX_REVISION): Promise<NativeClient> {
  const c = await NativeClient.open(port);
  c.hello(revision, user, password);
  const p = await c.next(10_000);
  if (!p) throw new Error('closed during the handshake');
  if (p.code === ServerCode.Exception) {
    c.close();
    throw new Error(`handshake refused: ${(p.packet as ServerException).exceptions[0].code}`);
  }
  c.state.onServerHello((p.packet as { revision: number }).revision);
  c.addendumIfNeeded();
  return c;
}

/** Runs one query on a logged-in client: the rows of the first column, or the Exception's code. */
export async function runNative(c: NativeClient, sql: string): Promise<{ rows: unknown[]; error?: number; message?: string }> {
  c.query(sql);
  const packets = await c.untilEnd(30_000);
  const last = packets[packets.length - 1];
  if (last.code === ServerCode.Exception) {
    const e = (last.packet as ServerException).exceptions[0];
    return { rows: [], error: e.code, message: e.message };
  }
  const rows: unknown[] = [];
  for (const p of packets) {
    if (p.code !== ServerCode.Data || !p.block || p.block.rows === 0) continue;
    rows.push(...decodeFramedBlock(p, c.state.revision).columns[0].values);
  }
  return { rows };
}

/** The proxy is up and serves a normal client: a fresh connection, a query, the right answer. */
export async function assertServes(p: ChaosProxy): Promise<void> {
  if (!p.gh.process.running) throw new Error(`the proxy exited:\n${p.gh.output().slice(-4000)}`);
  const c = await loggedIn(p.gh.port, p.user, p.password);
  try {
    const r = await runNative(c, 'SELECT 40 + 2');
    if (r.error !== undefined || Number(r.rows[0]) !== 42) throw new Error(`normal query failed: ${JSON.stringify(r)}`);
  } finally {
    c.close();
  }
}

/** After a scenario: the proxy serves, and its pools are back to idle. */
export async function assertRecovered(p: ChaosProxy, timeoutMs = 20_000): Promise<PoolGauges & { tookMs: number }> {
  await assertServes(p);
  return poolsBackToIdle(p, timeoutMs);
}

/** What a raw socket saw: bytes from the proxy, and whether/when it was closed by the proxy. */
export interface RawOutcome {
  bytes: Buffer;
  /** The proxy ended or reset the connection (ms after connect), or null: still open when we gave up. */
  closedAfterMs: number | null;
  error?: string;
}

/**
 * Connects, sends `chunks` (with `gapMs` between them), then waits up to `waitMs` for the proxy to close; ends the
 * connection itself afterwards if it did not.
 */
export function rawExchange(port: number, chunks: Buffer[], opts: { gapMs?: number; waitMs?: number; host?: string } = {}): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const got: Buffer[] = [];
    let closedAt: number | null = null;
    let error: string | undefined;
    let finished = false;
    const s: Socket = connect(port, opts.host ?? '127.0.0.1');
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      s.destroy();
      resolve({ bytes: Buffer.concat(got), closedAfterMs: closedAt, error });
    };
    s.on('data', (d) => got.push(d));
    s.on('error', (e) => {
      error = (e as NodeJS.ErrnoException).code ?? e.message;
    });
    const onEnd = () => {
      if (closedAt === null) closedAt = Date.now() - t0;
      finish();
    };
    s.on('end', onEnd);
    s.on('close', onEnd);
    s.on('connect', () => {
      let at = 0;
      chunks.forEach((c, i) => {
        if (!opts.gapMs || i === 0) {
          if (!s.destroyed) s.write(c);
        } else {
          at += opts.gapMs;
          timers.push(setTimeout(() => !s.destroyed && s.write(c), at));
        }
      });
      timers.push(setTimeout(finish, at + (opts.waitMs ?? 1_000)));
    });
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const mb = (bytes: number) => Math.round((bytes / (1 << 20)) * 10) / 10;

/** Resident memory of any process (a worker, a paused server), from /proc; 0 once it is gone. */
export function rssOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  } catch {
    return 0;
  }
}

/** Latency percentile (nearest rank) of a list of milliseconds; NaN when empty. */
export function percentile(ms: readonly number[], p: number): number {
  if (ms.length === 0) return NaN;
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Least-squares slope of y over x (units of y per unit of x). */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
