/**
 * Issue 8, soak: a `gatehouse serve` (memory result cache on) under steady mixed load for a fixed time: cached reads
 * (a small set of queries: mostly hits), uncached reads (`no_cache` hint), INSERTs to the writer, and reconnects
 * (every loop reconnects now and then, and some operations use a connection of their own). The proxy's RSS is
 * sampled every few seconds. After a warm-up of 20 % of the run the least-squares slope of memory is under 1 MB/min:
 * at short scale, of the live set after a forced full collection (LIVESET below); at long scale, of RSS, measured
 * from the proxy's first full garbage collection at the earliest (before it V8 grows the heap by design). And
 * no operation failed, and latency is stable (the p99 of the run's last fifth within 3× of the first post-warm-up fifth's; a fifth is at least a minute).
 * Short scale: 110 s of load (the file stays within 2 minutes inside `npm test`); long: 30 minutes. GATEHOUSE_SOAK_SECONDS overrides either (to check
 * the slope logic on a shorter long run).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpQuery, startSandboxCluster, type SandboxCluster } from '../helpers';
import type { NativeClient } from '../helpers/native-client';
import { loggedIn, mb, percentile, poolsBackToIdle, runNative, sleep, slope, startChaosProxy, type ChaosProxy } from './harness';
import { Rng } from './mutate';
import { record } from './results';
import { SCALE } from './scale';

const RUN_MS = Number(process.env.GATEHOUSE_SOAK_SECONDS ?? (SCALE === 'long' ? 1_800 : 110)) * 1000;
const WARMUP_MS = RUN_MS * 0.2;
/** Concurrent client loops; each pauses between operations so that the 2-core machine is loaded, not saturated. */
const LOOPS = SCALE === 'long' ? 6 : 4;
const PAUSE_MS = 15;
const SAMPLE_EVERY_MS = SCALE === 'long' ? 5_000 : 2_000;
/** A loop reconnects after this many operations. */
const RECONNECT_EVERY = 25;
const MAX_SLOPE_MB_PER_MIN = 1;
/**
 * In live-set mode the leak bound applies to the live set; RSS gets a gross bound that catches memory outside V8's
 * accounting growing fast. Measured here over the 2-minute run: RSS slope 1.9 MB/min with no leak (the allocator and
 * V8's heap sizing still settling), live set 0.3; with a 3 MB/min Buffer leak added, live set 3.3 and RSS 4.2.
 */
const MAX_RSS_SLOPE_LIVESET_MB_PER_MIN = 5;
const MAX_P99_RATIO = 3;
const SEED = Number(process.env.GATEHOUSE_CHAOS_SEED ?? 20240608) + 200;

/**
 * Live-set mode (default at short scale; GATEHOUSE_SOAK_LIVESET=1|0 overrides): the proxy runs with
 * test/chaos/live-set-probe.js, which forces a full collection before each sample, and the leak assertion is on what
 * stays alive (V8 heap in use + external memory). Two minutes of RSS under V8's own schedule show the heap breathing
 * by tens of MB, not a leak of a few MB/min; the long run keeps V8's own schedule and asserts on RSS.
 */
const LIVESET = (process.env.GATEHOUSE_SOAK_LIVESET ?? (SCALE === 'short' ? '1' : '0')) === '1';
const PROBE_DIR = mkdtempSync(join(tmpdir(), 'gh-soak-'));
const LIVESET_FILE = join(PROBE_DIR, 'liveset.jsonl');

const PASSWORD_ENV = 'GH_CHAOS_APP_PASSWORD';
const APP_PASSWORD = `app-${randomUUID()}`;

let cluster: SandboxCluster;
let proxy: ChaosProxy;

beforeAll(async () => {
  cluster = await startSandboxCluster({ readers: 1 });
  for (const n of cluster.nodes) {
    await httpQuery(n.httpPort, 'CREATE DATABASE IF NOT EXISTS chaos');
    await httpQuery(n.httpPort, 'CREATE TABLE IF NOT EXISTS chaos.dim (k UInt32, v UInt64) ENGINE = MergeTree ORDER BY k');
    await httpQuery(n.httpPort, 'INSERT INTO chaos.dim SELECT number % 50, number FROM numbers(100000)');
    // Memory engine: thousands of small INSERTs make no parts to merge.
    await httpQuery(n.httpPort, 'CREATE TABLE IF NOT EXISTS chaos.soak (loop UInt32, seq UInt64, s String) ENGINE = Memory');
  }
  proxy = await startChaosProxy(
    {
      writer: `127.0.0.1:${cluster.writer.tcpPort}`,
      readers: [`127.0.0.1:${cluster.readers[0].tcpPort}`],
      users: [{ name: 'app', password_env: PASSWORD_ENV }],
      read_user: cluster.users.reader,
      write_user: cluster.users.writer,
      // Entries expire during the run, and the one-off `fresh` queries make new entries all the time: a small budget
      // is full within the warm-up, so the store evicts from then on and the slope measures the proxy, not the cache
      // filling up (with the default 256 MiB budget, it grows until that is reached: docs/reliability.md finding 10).
      // GATEHOUSE_SOAK_CACHE_BYTES: another budget (e.g. the default 268435456) to measure the cache's own growth.
      cache: { enabled: true, store: 'memory', ttl_seconds: 20, max_bytes: Number(process.env.GATEHOUSE_SOAK_CACHE_BYTES ?? 256 * 1024), max_entry_bytes: 64 * 1024 },
    },
    { user: 'app', password: APP_PASSWORD },
    {
      [PASSWORD_ENV]: APP_PASSWORD,
      ...(LIVESET
        ? {
            NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${join(__dirname, 'live-set-probe.js')}`.trim(),
            GATEHOUSE_LIVESET_FILE: LIVESET_FILE,
            GATEHOUSE_LIVESET_MS: String(SAMPLE_EVERY_MS),
          }
        : {}),
    },
  );
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await cluster?.stop();
  rmSync(PROBE_DIR, { recursive: true, force: true });
});

/** The probe's samples: minutes since t0 and MB alive after a full collection (heap in use + external). */
function liveSet(t0: number): { x: number; y: number }[] {
  if (!existsSync(LIVESET_FILE)) return [];
  return readFileSync(LIVESET_FILE, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { at: number; heapUsed: number; external: number })
    .filter((s) => s.at >= t0)
    .map((s) => ({ x: (s.at - t0) / 60_000, y: (s.heapUsed + s.external) / (1 << 20) }));
}

type Kind = 'cached' | 'uncached' | 'insert' | 'fresh';

interface Op {
  /** ms since the start of the run */
  at: number;
  kind: Kind;
  ms: number;
  error?: string;
}

/** One operation, chosen by weight: 50 % cached read, 20 % uncached read, 15 % INSERT, 15 % on a fresh connection. */
function pick(rng: Rng): Kind {
  const r = rng.int(100);
  return r < 50 ? 'cached' : r < 70 ? 'uncached' : r < 85 ? 'insert' : 'fresh';
}

function sqlFor(kind: Kind, rng: Rng, loop: number, seq: number): string {
  switch (kind) {
    case 'cached':
      // 20 distinct queries: after the first miss of each (and after each TTL), hits.
      return `SELECT k, count(), sum(v) FROM chaos.dim WHERE k % 20 = ${rng.int(20)} GROUP BY k ORDER BY k`;
    case 'uncached':
      return `SELECT /* gatehouse: no_cache */ count(), max(v) FROM chaos.dim WHERE k = ${rng.int(50)}`;
    case 'insert':
      return `INSERT INTO chaos.soak SELECT ${loop}, ${seq} + number, 'x' FROM numbers(${1 + rng.int(100)})`;
    case 'fresh':
      return `SELECT ${seq} + 1`;
  }
}

async function clientLoop(loop: number, t0: number, ops: Op[]): Promise<void> {
  const rng = new Rng(SEED + loop);
  let c: NativeClient | null = null;
  let done = 0;
  while (Date.now() - t0 < RUN_MS) {
    const kind = pick(rng);
    const sql = sqlFor(kind, rng, loop, done);
    const start = Date.now();
    const op: Op = { at: start - t0, kind, ms: 0 };
    try {
      if (kind === 'fresh') {
        const f = await loggedIn(proxy.gh.port, proxy.user, proxy.password);
        try {
          const r = await runNative(f, sql);
          if (r.error !== undefined) op.error = `${r.error}: ${r.message?.slice(0, 200)}`;
        } finally {
          f.close();
        }
      } else {
        if (!c || done % RECONNECT_EVERY === 0) {
          c?.close();
          c = await loggedIn(proxy.gh.port, proxy.user, proxy.password);
        }
        const r = await runNative(c, sql);
        if (r.error !== undefined) {
          op.error = `${r.error}: ${r.message?.slice(0, 200)}`;
          c.close();
          c = null;
        }
      }
    } catch (e) {
      op.error = (e as Error).message.slice(0, 200);
      c?.close();
      c = null;
    }
    op.ms = Date.now() - start;
    ops.push(op);
    done++;
    await sleep(PAUSE_MS);
  }
  c?.close();
}

/** Full (mark-compact) collections the proxy has run: prom-client's GC histogram count for kind "major" (0 before the first). */
function majorGcs(metrics: string): number {
  const m = /^gatehouse_nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)$/m.exec(metrics);
  return m ? Number(m[1]) : 0;
}

/** An unlabelled gauge or counter from /metrics (0 when absent). */
function gauge(metrics: string, name: string): number {
  const m = new RegExp(`^${name}(\\{\\})? (\\S+)$`, 'm').exec(metrics);
  return m ? Number(m[2]) : 0;
}

it(`${RUN_MS / 1000} s of mixed load: flat RSS after warm-up, no errors, stable latency`, async () => {
  const ops: Op[] = [];
  const rss: { x: number; y: number }[] = [];
  // The V8 heap in use and the cache's bytes, sampled with RSS: they tell a leak from the heap settling.
  const heap: { x: number; y: number }[] = [];
  const cacheMb: number[] = [];
  // Sizes of /metrics and /status: a label or an entry per client or per query would show here.
  const adminBytes: { at: number; metrics: number; status: number }[] = [];
  const t0 = Date.now();
  // When the proxy's heap was first compacted: until then V8 grows the heap towards its first limit by design (the
  // proxy turns off speculative early marking: src/gc-tuning.ts), a ramp of ~50 MB here that is not a leak.
  let firstMajorGcMs: number | undefined;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const x = (Date.now() - t0) / 60_000;
      rss.push({ x, y: proxy.gh.rssBytes() / (1 << 20) });
      const m = await proxy.gh.metrics();
      heap.push({ x, y: gauge(m, 'gatehouse_nodejs_heap_size_used_bytes') / (1 << 20) });
      if (firstMajorGcMs === undefined && majorGcs(m) > 0) firstMajorGcMs = Date.now() - t0;
      cacheMb.push(mb(gauge(m, 'gatehouse_cache_bytes')));
      const status = await (await fetch(`http://127.0.0.1:${proxy.gh.adminPort}/status`)).text();
      adminBytes.push({ at: Date.now() - t0, metrics: m.length, status: status.length });
      await sleep(SAMPLE_EVERY_MS);
    }
  })();
  await Promise.all(Array.from({ length: LOOPS }, (_, i) => clientLoop(i, t0, ops)));
  sampling = false;
  await sampler;
  const pools = await poolsBackToIdle(proxy, 30_000);
  const hits = gauge(await proxy.gh.metrics(), 'gatehouse_cache_hits_total');

  // The slope is measured from the later of the fixed warm-up and the first sample after the first full collection.
  const steadyFromMs = Math.max(WARMUP_MS, firstMajorGcMs ?? RUN_MS);
  const warm = rss.filter((s) => s.x * 60_000 >= steadyFromMs);
  const slopeMbPerMin = slope(warm);
  const live = liveSet(t0);
  const liveWarm = live.filter((s) => s.x * 60_000 >= WARMUP_MS);
  const liveSlopeMbPerMin = slope(liveWarm);
  const errors = ops.filter((o) => o.error !== undefined);
  // Latency per minute of the run (the last one may be partial), and the two windows the assertion compares: the
  // first stretch after the warm-up and the run's last one (they overlap when the run is shorter than warm-up +
  // 2 minutes, as the 2-minute run is).
  const window = (from: number, to: number) => ops.filter((o) => o.at >= from && o.at < to).map((o) => o.ms);
  const minutes = [];
  for (let m = 0; m * 60_000 < RUN_MS; m++) {
    const w = window(m * 60_000, (m + 1) * 60_000);
    const p99Of = (k: Kind) => percentile(ops.filter((o) => o.kind === k && o.at >= m * 60_000 && o.at < (m + 1) * 60_000).map((o) => o.ms), 99);
    minutes.push({ minute: m + 1, ops: w.length, p50: percentile(w, 50), p99: percentile(w, 99), p99ByKind: { cached: p99Of('cached'), uncached: p99Of('uncached'), insert: p99Of('insert'), fresh: p99Of('fresh') } });
  }
  // Windows of a fifth of the post-warm-up run (at least a minute): on a shared 2-core machine single minutes spike
  // with whatever else runs (a 30-minute run here had minutes from 5 to 42 ms at p99 with flat p50 and throughput), so
  // one minute against one minute measured the neighbours; drift shows in a fifth of the run as well.
  const span = Math.max(60_000, (RUN_MS - WARMUP_MS) / 5);
  const first = window(WARMUP_MS, WARMUP_MS + span);
  const last = window(RUN_MS - span, RUN_MS);
  const p99First = percentile(first, 99);
  const p99Last = percentile(last, 99);
  const byKind: Record<string, number> = {};
  for (const o of ops) byKind[o.kind] = (byKind[o.kind] ?? 0) + 1;

  record('soak', {
    seed: SEED,
    runSeconds: RUN_MS / 1000,
    warmupSeconds: WARMUP_MS / 1000,
    firstMajorGcSeconds: firstMajorGcMs === undefined ? null : firstMajorGcMs / 1000,
    steadyFromSeconds: steadyFromMs / 1000,
    loops: LOOPS,
    ops: ops.length,
    byKind,
    cacheHits: hits,
    errors: errors.length,
    firstErrors: errors.slice(0, 5),
    rssMb: { first: mb(rss[0].y * (1 << 20)), afterWarmup: warm.length ? mb(warm[0].y * (1 << 20)) : null, last: mb(rss[rss.length - 1].y * (1 << 20)), max: mb(Math.max(...rss.map((s) => s.y)) * (1 << 20)) },
    samples: rss.length,
    slopeMbPerMin: Math.round(slopeMbPerMin * 1000) / 1000,
    liveSet: LIVESET ? { samples: live.length, firstMb: mb((live[0]?.y ?? 0) * (1 << 20)), lastMb: mb((live[live.length - 1]?.y ?? 0) * (1 << 20)), slopeAfterWarmupMbPerMin: Math.round(liveSlopeMbPerMin * 1000) / 1000 } : null,
    heapUsedMb: { first: mb(heap[0].y * (1 << 20)), last: mb(heap[heap.length - 1].y * (1 << 20)), slopeAfterWarmupMbPerMin: Math.round(slope(heap.filter((h) => h.x * 60_000 >= steadyFromMs)) * 1000) / 1000 },
    cacheMb: { max: Math.max(...cacheMb), last: cacheMb[cacheMb.length - 1] },
    adminBytes: { first: adminBytes[0], afterWarmup: adminBytes.find((a) => a.at >= WARMUP_MS), last: adminBytes[adminBytes.length - 1] },
    minutes,
    windowSeconds: span / 1000,
    p99FirstPostWarmupMs: p99First,
    p99LastWindowMs: p99Last,
    poolsIdleAfterMs: pools.tookMs,
  });

  expect(errors).toEqual([]);
  if (LIVESET) {
    // What stays alive does not grow; RSS (allocator and heap sizing included) only within a gross bound.
    expect(liveWarm.length).toBeGreaterThanOrEqual(10);
    expect(liveSlopeMbPerMin).toBeLessThan(MAX_SLOPE_MB_PER_MIN);
    expect(warm.length).toBeGreaterThanOrEqual(10);
    expect(slopeMbPerMin).toBeLessThan(MAX_RSS_SLOPE_LIVESET_MB_PER_MIN);
  } else {
    // The heap was compacted during the run, early enough to leave a steady stretch to measure.
    expect(firstMajorGcMs).toBeDefined();
    expect(warm.length).toBeGreaterThanOrEqual(10);
    expect(slopeMbPerMin).toBeLessThan(MAX_SLOPE_MB_PER_MIN);
  }
  expect(p99Last).toBeLessThanOrEqual(MAX_P99_RATIO * p99First);
  // The mix happened: every kind ran, and the cache served hits.
  for (const k of ['cached', 'uncached', 'insert', 'fresh']) expect(byKind[k]).toBeGreaterThan(10);
  expect(hits).toBeGreaterThan(byKind.cached / 2);
  expect(proxy.gh.process.running).toBe(true);
}, RUN_MS + 120_000);
