/**
 * Issue 8, faults: what production does to a proxy's surroundings, done to a running `gatehouse serve` in front of
 * the real sandbox cluster. For each fault: what the client sees (a clear Exception with its code, or nothing: a
 * transparent retry), that the same proxy process keeps serving (no restart), and that the backend pools come back
 * to idle (no leaked connection). Faults: a reader SIGKILLed mid-query and while idle, a reader paused (SIGSTOP)
 * mid-query then resumed, the writer restarted mid-query and while idle, a relay between proxy and reader that cuts
 * every connection mid-result, adds latency, or throttles to a byte rate, Redis killed and restarted under cached
 * reads, and one of two workers SIGKILLed. Short scale: each fault once; long scale: each repeated, under load.
 */
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { decodeFramedBlock } from '../../src/pool';
import { ServerCode, type ServerException } from '../../src/protocol';
import { httpQuery, startRedis, startSandboxCluster, type RedisServer, type SandboxCluster } from '../helpers';
import type { NativeClient } from '../helpers/native-client';
import { assertRecovered, inParallel, loggedIn, poolsBackToIdle, runNative, sleep, startChaosProxy, type ChaosProxy } from './harness';
import { record } from './results';
import { SCALE, testTimeoutMs } from './scale';

/** How many times each fault is done: once at the short scale, repeatedly (under load) at the long one. */
const REPEAT = SCALE === 'long' ? 10 : 1;
/** Background clients querying while a fault happens (long scale only: the short run stays light). */
const LOAD_CLIENTS = SCALE === 'long' ? 4 : 0;

const PASSWORD_ENV = 'GH_CHAOS_APP_PASSWORD';
const APP_PASSWORD = `app-${randomUUID()}`;
const LOGIN = { user: 'app', password: APP_PASSWORD };
/** Bans after two failed checks 200 ms apart, lifted quickly: the proxy notices dead and revived nodes fast. */
const FAST_HEALTH = { interval_ms: 200, timeout_ms: 300, failures_to_ban: 2, ban_ms: 500, max_ban_ms: 2000 };
/** Checks that never ban: behind the relay the fault must reach the client, not be hidden by a fallback. */
const NO_BAN_HEALTH = { interval_ms: 60_000, timeout_ms: 5_000, failures_to_ban: 1000, ban_ms: 1000, max_ban_ms: 1000 };
/** A read of `blocks` blocks, one a second (100 rows × 10 ms), every row naming the node that answers. */
const slowRead = (blocks: number) => `SELECT (SELECT any(name) FROM gatehouse_meta.node) AS n, sleepEachRow(0.01) FROM numbers(${blocks * 100})`;
const BLOCKS_OF_100 = [{ name: 'max_block_size', value: '100', flags: 0 }];

let cluster: SandboxCluster;
const proxies: ChaosProxy[] = [];
const relays: FaultRelay[] = [];
let redis: RedisServer | undefined;

function baseConfig(readers: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    writer: `127.0.0.1:${cluster.writer.tcpPort}`,
    readers,
    users: [{ name: 'app', password_env: PASSWORD_ENV }],
    read_user: cluster.users.reader,
    write_user: cluster.users.writer,
    ...extra,
  };
}

async function proxy(config: Record<string, unknown>, args: string[] = []): Promise<ChaosProxy> {
  const p = await startChaosProxy(config, LOGIN, { [PASSWORD_ENV]: APP_PASSWORD }, args);
  proxies.push(p);
  return p;
}

beforeAll(async () => {
  cluster = await startSandboxCluster({ readers: 1 });
  await httpQuery(cluster.writer.httpPort, 'CREATE DATABASE IF NOT EXISTS chaos');
  await httpQuery(cluster.writer.httpPort, 'CREATE TABLE IF NOT EXISTS chaos.f (x UInt64) ENGINE = MergeTree ORDER BY x');
}, 60_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all(relays.map((r) => r.close()));
  await redis?.stop();
  await cluster?.stop();
});

/** How a streamed query ended: rows received, the node of the first row, the Exception (code, message) if any. */
interface Streamed {
  rows: number;
  node: string | null;
  error?: number;
  message?: string;
  closed?: boolean;
  ms: number;
}

/**
 * Sends `sql`, calls `atFirstRows` once the first non-empty block arrives (the query is then surely running on a
 * backend), and reads to the end.
 */
async function streamQuery(c: NativeClient, sql: string, atFirstRows?: () => Promise<void>, settings = BLOCKS_OF_100): Promise<Streamed> {
  const t0 = Date.now();
  const out: Streamed = { rows: 0, node: null, ms: 0 };
  let fired = false;
  let fault: Promise<void> | undefined;
  c.query(sql, settings);
  for (;;) {
    const p = await c.next(60_000);
    if (!p) {
      out.closed = true;
      break;
    }
    if (p.code === ServerCode.Exception) {
      const e = (p.packet as ServerException).exceptions[0];
      out.error = e.code;
      out.message = e.message;
      break;
    }
    if (p.code === ServerCode.EndOfStream) break;
    if (p.code === ServerCode.Data && p.block && p.block.rows > 0) {
      out.rows += p.block.rows;
      out.node ??= String(decodeFramedBlock(p, c.state.revision).columns[0].values[0]);
      if (!fired && atFirstRows) {
        fired = true;
        fault = atFirstRows();
      }
    }
  }
  await fault;
  out.ms = Date.now() - t0;
  return out;
}

/** One query on a fresh connection; a closed connection counts as an error (-1). */
async function once(p: ChaosProxy, sql: string): Promise<{ rows: unknown[]; error?: number; message?: string; ms: number }> {
  const t0 = Date.now();
  try {
    const c = await loggedIn(p.gh.port, p.user, p.password);
    try {
      return { ...(await runNative(c, sql)), ms: Date.now() - t0 };
    } finally {
      c.close();
    }
  } catch (e) {
    return { rows: [], error: -1, message: (e as Error).message, ms: Date.now() - t0 };
  }
}

/** Background clients (long scale) querying `sql` in a loop until stopped; errors are counted, not thrown. */
function load(p: ChaosProxy, sql: string) {
  let stop = false;
  const tally = { ok: 0, errors: {} as Record<string, number> };
  const loops = Array.from({ length: LOAD_CLIENTS }, async () => {
    while (!stop) {
      const r = await once(p, sql);
      if (r.error === undefined) tally.ok++;
      else tally.errors[String(r.error)] = (tally.errors[String(r.error)] ?? 0) + 1;
      await sleep(20);
    }
  });
  return {
    tally,
    stop: async () => {
      stop = true;
      await Promise.all(loops);
      return tally;
    },
  };
}

interface BackendStatus {
  name: string;
  banned: boolean;
}

async function backends(p: ChaosProxy): Promise<BackendStatus[]> {
  const res = await fetch(`http://127.0.0.1:${p.gh.adminPort}/status`);
  return ((await res.json()) as { backends: BackendStatus[] }).backends;
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
  return Date.now() - t0;
}

async function metric(p: ChaosProxy, name: string): Promise<number> {
  const m = new RegExp(`^${name}(\\{\\})? (\\S+)$`, 'm').exec(await p.gh.metrics());
  return m ? Number(m[2]) : 0;
}

/** The proxy is the same process and serves; pools back to idle. */
async function recovered(p: ChaosProxy, pid: number) {
  expect(p.gh.pid).toBe(pid);
  return assertRecovered(p, 30_000);
}

describe('backends: a reader killed, a reader paused, the writer restarted', () => {
  let p: ChaosProxy;
  let pid: number;
  beforeAll(async () => {
    // One reader, reads fall back to the writer while it is banned.
    p = await proxy(baseConfig([{ address: `127.0.0.1:${cluster.readers[0].tcpPort}`, name: 'reader1' }], { health: FAST_HEALTH, routing: { reads_fallback_to_writer: true, retries: 1 } }));
    pid = p.gh.pid;
  });
  const reader = () => cluster.readers[0];
  const readerBack = () => until('reader1 back in rotation', async () => (await backends(p)).some((b) => b.name === 'reader1' && !b.banned) && (await once(p, 'SELECT name FROM gatehouse_meta.node')).rows[0] === 'reader1');

  test('reader killed mid-query: that query gets an Exception with its code; reads after the kill succeed (writer fallback); back after restart', async () => {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      const bg = load(p, 'SELECT name FROM gatehouse_meta.node');
      const c = await loggedIn(p.gh.port, p.user, p.password);
      const r = await streamQuery(c, slowRead(5), async () => {
        await reader().kill();
      });
      c.close();
      const after = await inParallel(Array.from({ length: 5 }), 5, () => once(p, 'SELECT name FROM gatehouse_meta.node'));
      await reader().restart();
      const backMs = await readerBack();
      const tally = await bg.stop();
      runs.push({ inFlight: { node: r.node, rows: r.rows, error: r.error, closed: r.closed ?? false }, after: after.map((a) => a.rows[0] ?? `error ${a.error}`), backMs, load: tally });
      expect(r.node).toBe('reader1');
      expect(r.closed).toBeUndefined();
      expect(r.error).toEqual(expect.any(Number));
      expect(r.message).toMatch(/./);
      expect(r.rows).toBeLessThan(500);
      // Nothing started after the kill saw it: the proxy retried or fell back to the writer.
      expect(after.filter((a) => a.error !== undefined)).toEqual([]);
    }
    const pools = await recovered(p, pid);
    record('faults-reader-killed-mid-query', { repeat: REPEAT, runs, poolsIdleAfterMs: pools.tookMs });
  }, testTimeoutMs(40_000, 600_000));

  test('reader killed while idle: no client sees it (retry/fallback); back after restart', async () => {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      // Idle pooled connections to the reader exist (min_idle and the reads just made).
      expect((await once(p, 'SELECT name FROM gatehouse_meta.node')).rows[0]).toBe('reader1');
      await reader().kill();
      const after = [];
      for (let j = 0; j < 5; j++) after.push(await once(p, 'SELECT name FROM gatehouse_meta.node'));
      await reader().restart();
      const backMs = await readerBack();
      runs.push({ after: after.map((a) => a.rows[0] ?? `error ${a.error}`), backMs });
      expect(after.filter((a) => a.error !== undefined)).toEqual([]);
    }
    const pools = await recovered(p, pid);
    record('faults-reader-killed-idle', { repeat: REPEAT, runs, poolsIdleAfterMs: pools.tookMs });
  }, testTimeoutMs(30_000, 600_000));

  test('reader paused (SIGSTOP) for 2 s during a 3 s query, then resumed (SIGCONT): the query completes, whole', async () => {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      const c = await loggedIn(p.gh.port, p.user, p.password);
      let during: Awaited<ReturnType<typeof once>>[] = [];
      const r = await streamQuery(c, slowRead(3), async () => {
        process.kill(reader().pid, 'SIGSTOP');
        try {
          // Reads meanwhile: the reader gets banned by the health checks and reads go to the writer.
          await sleep(1_000);
          during = [await once(p, 'SELECT name FROM gatehouse_meta.node')];
          await sleep(1_000);
        } finally {
          process.kill(reader().pid, 'SIGCONT');
        }
      });
      c.close();
      const backMs = await readerBack();
      runs.push({ rows: r.rows, error: r.error, ms: r.ms, during: during.map((d) => d.rows[0] ?? `error ${d.error}`), backMs });
      expect({ rows: r.rows, error: r.error, closed: r.closed }).toEqual({ rows: 300, error: undefined, closed: undefined });
      expect(r.ms).toBeGreaterThan(3_000);
    }
    const pools = await recovered(p, pid);
    record('faults-reader-paused', { repeat: REPEAT, pausedMs: 2_000, runs, poolsIdleAfterMs: pools.tookMs });
  }, testTimeoutMs(40_000, 600_000));

  test('reader paused (SIGSTOP) for 2 s while idle, with pooled connections to it: every read is answered; back after SIGCONT', async () => {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      // Idle pooled connections to the reader exist (min_idle and the read just made).
      expect((await once(p, 'SELECT name FROM gatehouse_meta.node')).rows[0]).toBe('reader1');
      process.kill(reader().pid, 'SIGSTOP');
      const resume = setTimeout(() => process.kill(reader().pid, 'SIGCONT'), 2_000);
      const during: { node: string; ms: number }[] = [];
      try {
        // Sequential reads from the moment of the pause: one may be sent on a pooled connection to the paused reader
        // before the health checks ban it (it then waits for the SIGCONT); the rest go to the writer.
        for (let j = 0; j < 5; j++) {
          const t0 = Date.now();
          const r = await once(p, 'SELECT name FROM gatehouse_meta.node');
          during.push({ node: String(r.rows[0] ?? `error ${r.error}`), ms: Date.now() - t0 });
        }
      } finally {
        clearTimeout(resume);
        process.kill(reader().pid, 'SIGCONT');
      }
      const backMs = await readerBack();
      runs.push({ during, backMs });
      expect(during.filter((d) => d.node.startsWith('error'))).toEqual([]);
    }
    const pools = await recovered(p, pid);
    record('faults-reader-paused-idle', { repeat: REPEAT, pausedMs: 2_000, runs, poolsIdleAfterMs: pools.tookMs });
  }, testTimeoutMs(40_000, 600_000));

  test('writer restarted mid-INSERT: that client gets an Exception with its code; restarted while idle: writes go on', async () => {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      // Mid-query: an INSERT … SELECT that takes ~3 s on the writer (the SELECT part reports no rows, so poll).
      const c = await loggedIn(p.gh.port, p.user, p.password);
      c.query('INSERT INTO chaos.f SELECT number FROM numbers(300) WHERE sleepEachRow(0.01) = 0', BLOCKS_OF_100);
      await sleep(1_000);
      await cluster.writer.restart();
      const packets = await c.untilEnd(30_000).catch((e: Error) => e);
      c.close();
      const last = packets instanceof Error ? null : packets[packets.length - 1];
      const midError = last?.code === ServerCode.Exception ? (last.packet as ServerException).exceptions[0] : null;
      // Idle: the pool's writer connections died with the restart; the next writes must still work.
      await cluster.writer.restart();
      const writes = [];
      for (let j = 0; j < 3; j++) writes.push(await once(p, `INSERT INTO chaos.f SELECT ${1000 + j}`));
      runs.push({ midQuery: midError ? { code: midError.code, message: midError.message.slice(0, 200) } : packets instanceof Error ? packets.message : 'EndOfStream', idleWrites: writes.map((w) => w.error ?? 'ok') });
      expect(midError).not.toBeNull();
      expect(midError!.code).toEqual(expect.any(Number));
      expect(writes.filter((w) => w.error !== undefined)).toEqual([]);
    }
    const pools = await recovered(p, pid);
    record('faults-writer-restarted', { repeat: REPEAT, runs, poolsIdleAfterMs: pools.tookMs });
  }, testTimeoutMs(60_000, 900_000));
});

/**
 * A relay of the test's own between the proxy and a backend: `cut()` resets every connection through it,
 * `setDelay` holds each chunk that long (in order), `setRate` lets at most that many bytes a second through in each
 * direction (the sender is paused meanwhile: backpressure, as on a slow link).
 */
interface FaultRelay {
  port: number;
  bytesToProxy: number;
  cut(): void;
  setDelay(ms: number): void;
  setRate(bytesPerSecond: number): void;
  close(): Promise<void>;
}

async function startFaultRelay(targetPort: number): Promise<FaultRelay> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let delay = 0;
  let rate = 0;
  const state = { bytesToProxy: 0 };
  /** Sends `d` after the delay, in order, then (when throttled) in slices of rate/20 bytes every 50 ms. */
  const pipe = (from: Socket, to: Socket, toProxy: boolean) => {
    let queue: Buffer[] = [];
    let queued = 0;
    let pump: NodeJS.Timeout | null = null;
    let lastDue = 0;
    const forward = (d: Buffer) => {
      if (toProxy) state.bytesToProxy += d.length;
      if (!to.destroyed) to.write(d);
    };
    const drain = () => {
      let budget = Math.max(1, Math.floor(rate / 20));
      while (budget > 0 && queue.length > 0) {
        const head = queue[0];
        const n = Math.min(budget, head.length);
        forward(head.subarray(0, n));
        budget -= n;
        queued -= n;
        if (n === head.length) queue.shift();
        else queue[0] = head.subarray(n);
      }
      if (queue.length === 0) {
        if (pump) clearInterval(pump);
        pump = null;
        from.resume();
      }
    };
    const out = (d: Buffer) => {
      if (rate <= 0 && queue.length === 0) return forward(d);
      queue.push(d);
      queued += d.length;
      if (queued > 64 * 1024) from.pause();
      if (!pump) {
        pump = setInterval(drain, 50);
        timers.add(pump);
      }
    };
    from.on('data', (d: Buffer) => {
      if (delay <= 0) return out(d);
      const due = Math.max(Date.now() + delay, lastDue);
      lastDue = due;
      const t = setTimeout(() => {
        timers.delete(t);
        out(d);
      }, due - Date.now());
      timers.add(t);
    });
  };
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    pipe(client, upstream, false);
    pipe(upstream, client, true);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    get bytesToProxy() {
      return state.bytesToProxy;
    },
    cut: () => {
      for (const s of sockets) s.resetAndDestroy();
    },
    setDelay: (ms) => (delay = ms),
    setRate: (r) => (rate = r),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a fault-injecting relay between the proxy and its reader', () => {
  let p: ChaosProxy;
  let relay: FaultRelay;
  let pid: number;
  beforeAll(async () => {
    relay = await startFaultRelay(cluster.readers[0].tcpPort);
    relays.push(relay);
    // The relay is the only reader, never banned, no fallback: what the relay does reaches the proxy's read path.
    p = await proxy(baseConfig([{ address: `127.0.0.1:${relay.port}`, name: 'relayed' }], { health: NO_BAN_HEALTH, routing: { reads_fallback_to_writer: false, retries: 1 } }));
    pid = p.gh.pid;
  });

  test('every connection cut mid-result: that query gets an Exception with its code; the next reads succeed', async () => {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      const bg = load(p, 'SELECT name FROM gatehouse_meta.node');
      const c = await loggedIn(p.gh.port, p.user, p.password);
      const r = await streamQuery(c, slowRead(4), async () => relay.cut());
      c.close();
      const next = [];
      for (let j = 0; j < 3; j++) next.push(await once(p, 'SELECT name FROM gatehouse_meta.node'));
      runs.push({ inFlight: { rows: r.rows, error: r.error, message: r.message?.slice(0, 200), closed: r.closed ?? false }, next: next.map((n) => n.rows[0] ?? `error ${n.error}`), load: await bg.stop() });
      expect(r.closed).toBeUndefined();
      expect(r.error).toEqual(expect.any(Number));
      expect(r.rows).toBeLessThan(400);
      expect(next.filter((n) => n.error !== undefined)).toEqual([]);
    }
    const pools = await recovered(p, pid);
    record('faults-relay-cut', { repeat: REPEAT, runs, poolsIdleAfterMs: pools.tookMs });
  }, testTimeoutMs(30_000, 600_000));

  test('200 ms of latency each way: reads succeed, each costs at least a round trip more', async () => {
    const base = await once(p, 'SELECT name FROM gatehouse_meta.node');
    relay.setDelay(200);
    const slow = [];
    try {
      for (let i = 0; i < 3 * REPEAT; i++) slow.push(await once(p, `SELECT name FROM gatehouse_meta.node WHERE ${i} >= 0`));
    } finally {
      relay.setDelay(0);
    }
    record('faults-relay-latency', { delayMsEachWay: 200, baseMs: base.ms, slowMs: slow.map((s) => s.ms), errors: slow.filter((s) => s.error !== undefined).length });
    expect(slow.filter((s) => s.error !== undefined)).toEqual([]);
    for (const s of slow) expect(s.ms).toBeGreaterThanOrEqual(400);
    await recovered(p, pid);
  }, testTimeoutMs(30_000, 300_000));

  test('throttled to 256 KB/s: a 400 KB result arrives whole, paced by the link', async () => {
    const RATE = 256 * 1024;
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      relay.setRate(RATE);
      const bytes0 = relay.bytesToProxy;
      let r: Awaited<ReturnType<typeof once>>;
      try {
        r = await once(p, `SELECT cityHash64(number, ${i}) FROM numbers(50000)`);
      } finally {
        relay.setRate(0);
      }
      const relayed = relay.bytesToProxy - bytes0;
      runs.push({ rows: r.rows.length, error: r.error, ms: r.ms, relayedBytes: relayed });
      expect({ rows: r.rows.length, error: r.error }).toEqual({ rows: 50_000, error: undefined });
      // The link, not the proxy, set the pace (one 50 ms slice of slack).
      expect(r.ms).toBeGreaterThanOrEqual((relayed / RATE) * 1000 - 100);
    }
    const pools = await recovered(p, pid);
    record('faults-relay-throttle', { rateBytesPerSecond: RATE, runs, poolsIdleAfterMs: pools.tookMs });
  }, testTimeoutMs(30_000, 300_000));
});

test('Redis killed and restarted under cached reads: no client error, the cache store comes back', async () => {
  redis = await startRedis();
  const port = redis.port;
  const p = await proxy(baseConfig([], { cache: { enabled: true, ttl_seconds: 300, redis: { url: `redis://127.0.0.1:${port}`, command_timeout_ms: 200 } } }));
  const pid = p.gh.pid;
  const sql = "SELECT count() FROM chaos.f WHERE 'redis-fault' != ''";
  const runs = [];
  for (let i = 0; i < REPEAT; i++) {
    let stop = false;
    let answers = 0;
    const errors: string[] = [];
    // Cached reads in a loop, one connection each, through the whole fault.
    const loop = (async () => {
      while (!stop) {
        const r = await once(p, sql);
        if (r.error !== undefined) errors.push(`${r.error}: ${r.message?.slice(0, 200)}`);
        else answers++;
        await sleep(20);
      }
    })();
    await sleep(500);
    await redis.stop();
    await sleep(1_500);
    const downUp = await metric(p, 'gatehouse_cache_store_up');
    redis = await startRedis({ port });
    const hits0 = await metric(p, 'gatehouse_cache_hits_total');
    const backMs = await until('cache hits again', async () => (await metric(p, 'gatehouse_cache_hits_total')) >= hits0 + 3);
    stop = true;
    await loop;
    runs.push({ answers, errors: errors.length, storeUpWhileDown: downUp, hitsAgainAfterMs: backMs });
    expect(errors).toEqual([]);
    expect(downUp).toBe(0);
    expect(await metric(p, 'gatehouse_cache_store_up')).toBe(1);
  }
  const pools = await recovered(p, pid);
  record('faults-redis-restarted', { repeat: REPEAT, runs, poolsIdleAfterMs: pools.tookMs });
}, testTimeoutMs(40_000, 600_000));

test('one of two workers killed: it is replaced; clients on the other worker are unaffected', async () => {
  const p = await proxy(baseConfig([`127.0.0.1:${cluster.readers[0].tcpPort}`]), ['--workers', '2']);
  const workers = async () => {
    const res = await fetch(`http://127.0.0.1:${p.gh.adminPort}/status`);
    return Object.values(((await res.json()) as { workers: Record<string, { pid: number }> }).workers).map((w) => w.pid);
  };
  await until('two workers', async () => (await workers()).length === 2);
  const runs = [];
  for (let i = 0; i < REPEAT; i++) {
    // Enough clients that both workers hold some (the primary hands connections out round-robin).
    const clients = await Promise.all(Array.from({ length: 8 }, () => loggedIn(p.gh.port, p.user, p.password)));
    for (const c of clients) expect((await runNative(c, 'SELECT 1')).rows).toEqual([1]);
    const pids = await workers();
    const victim = pids[0];
    process.kill(victim, 'SIGKILL');
    await sleep(300);
    const outcomes = await Promise.all(
      clients.map((c) =>
        runNative(c, 'SELECT 2').then(
          (r) => (r.error === undefined && Number(r.rows[0]) === 2 ? 'ok' : `error ${r.error}`),
          () => 'closed',
        ),
      ),
    );
    for (const c of clients) c.close();
    const replacedMs = await until('a replacement worker', async () => {
      const now = await workers();
      return now.length === 2 && !now.includes(victim);
    });
    const survivors = outcomes.filter((o) => o === 'ok').length;
    runs.push({ clients: clients.length, survivors, closed: outcomes.filter((o) => o === 'closed').length, other: outcomes.filter((o) => o !== 'ok' && o !== 'closed'), replacedMs });
    // The killed worker's clients lose their connection (nothing can answer for a dead process); every other client goes on.
    expect(outcomes.every((o) => o === 'ok' || o === 'closed')).toBe(true);
    expect(survivors).toBeGreaterThan(0);
    // New connections are served (by either worker).
    for (let j = 0; j < 4; j++) expect((await once(p, 'SELECT 3')).rows).toEqual([3]);
  }
  expect(p.gh.process.running).toBe(true);
  const pools = await poolsBackToIdle(p, 30_000);
  record('faults-worker-killed', { repeat: REPEAT, runs, poolsIdleAfterMs: pools.tookMs });
}, testTimeoutMs(40_000, 600_000));
