/**
 * Issue 4 against the real sandbox cluster through `gatehouse serve` processes: a reader killed during a long query
 * and while idle (in-flight queries end with 210, new reads fail over with zero errors, the reader is banned with a
 * reason and comes back after a restart, the proxy never restarts), a slow reader behind a fault-injecting relay
 * getting fewer reads, the writer down, every reader down (fallback to the writer or 279), read-your-writes,
 * routing rules and named groups, and a read retried after a connect failure.
 *
 * Which node answered: every node has `gatehouse_meta.node` holding its own name. Python clients
 * (clickhouse_driver) run the concurrent load; they print one JSON line that the test analyses.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorCodeOf, freePort, httpQuery, runClient, runPython, startSandboxCluster, type ClickHouseServer, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { startSlowRelay, type SlowRelay } from '../helpers/slow-relay';

const APP = { name: 'app', password: 'app_pw' } as const;
const FAST_HEALTH = 'health: { interval_ms: 200, timeout_ms: 300, failures_to_ban: 2, ban_ms: 500, max_ban_ms: 2000 }';
/** A 10 s read in 10 blocks of 100 rows (18.16 caps sleepEachRow at 3 s per block), the node's name on every row. */
const LONG_READ = 'SELECT (SELECT any(name) FROM gatehouse_meta.node) AS n, sleepEachRow(0.01) FROM numbers(1000)';

let cluster: SandboxCluster;
let tmpDir: string;
const proxies: Gatehouse[] = [];
const relays: SlowRelay[] = [];

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hostPort = (n: ClickHouseServer) => `127.0.0.1:${n.tcpPort}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A config: identities, the proxy user `app`, the given readers (default: both, named reader1/reader2) and extra YAML. */
function config(name: string, opts: { readers?: string[]; extra?: string[] } = {}): string {
  const readers = opts.readers ?? cluster.readers.map((r, i) => `{ address: "${hostPort(r)}", name: reader${i + 1} }`);
  const yaml = [
    `writer: "${hostPort(cluster.writer)}"`,
    `readers: [${readers.join(', ')}]`,
    'users:',
    `  - { name: ${APP.name}, password_sha256_hex: ${sha256Hex(APP.password)} }`,
    `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
    `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
    ...(opts.extra ?? []),
  ].join('\n');
  const file = path.join(tmpDir, `${name}.yaml`);
  fs.writeFileSync(file, yaml);
  return file;
}

async function gatehouse(name: string, opts: Parameters<typeof config>[1] = {}): Promise<Gatehouse> {
  const g = await startGatehouse(['--config', config(name, opts), '--admin', '127.0.0.1:0']);
  proxies.push(g);
  return g;
}

interface BackendStatus {
  name: string;
  banned: boolean;
  banReason: string | null;
  consecutiveFailures: number;
}

async function status(g: Gatehouse): Promise<BackendStatus[]> {
  const res = await fetch(`http://127.0.0.1:${g.adminPort}/status`);
  return ((await res.json()) as { backends: BackendStatus[] }).backends;
}

/** Polls /status until `pred` holds for the named backend; returns that entry (or the last seen, for the assertion). */
async function waitStatus(g: Gatehouse, name: string, pred: (s: BackendStatus) => boolean, timeoutMs: number): Promise<BackendStatus | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: BackendStatus | undefined;
  for (;;) {
    last = (await status(g)).find((s) => s.name === name);
    if ((last && pred(last)) || Date.now() > deadline) return last;
    await sleep(50);
  }
}

/** clickhouse-client as `app`. */
function client(port: number, sql: string, args: string[] = []) {
  return runClient(port, ['--user', APP.name, '--password', APP.password, ...args, '--query', sql], '');
}

async function ok(port: number, sql: string, args: string[] = []): Promise<string> {
  const res = await client(port, sql, args);
  if (res.code !== 0 || errorCodeOf(res.stderr) !== null) throw new Error(`expected success of ${sql}\nexit ${res.code}\n${res.stderr}`);
  return res.stdout.trim();
}

/** Runs a Python driver script that prints one JSON line last; returns it parsed. */
async function python<T>(script: string, timeoutMs = 60_000): Promise<T> {
  const res = await runPython(PY_PRELUDE + script, {}, timeoutMs);
  if (res.code !== 0) throw new Error(`python failed (${res.code}):\n${res.stderr}\n${res.stdout}`);
  const lines = res.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

const PY_PRELUDE = `
import json, threading, time
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
def client(port):
    return Client('127.0.0.1', port=port, user='${APP.name}', password='${APP.password}', connect_timeout=5, send_receive_timeout=30)
def attempt(c, sql, **kw):
    """Returns (node-or-rows, error code or None, message)."""
    try:
        return (c.execute(sql, **kw), None, '')
    except ServerException as e:
        return (None, e.code, str(e.message).split('\\n')[0][:300])
    except Exception as e:
        return (None, -1, '%s: %s' % (type(e).__name__, str(e)[:300]))
`;

/** One short read in a stream: when it started/ended (epoch s), the node that answered, or its error. */
interface ShortRead {
  t0: number;
  t1: number;
  node: string | null;
  code: number | null;
  msg: string;
}

/**
 * Python: `threads` clients each run `SELECT name FROM gatehouse_meta.node` in a loop for `seconds`, recording every
 * query. With `long > 0`, that many extra clients each start LONG_READ at once (streamed with execute_iter) and
 * record the node of its first row, the rows received, and how it ended.
 */
function streamScript(port: number, seconds: number, threads: number, long = 0): string {
  return `
port, seconds, threads, nlong = ${port}, ${seconds}, ${threads}, ${long}
reads, longs = [], []
lock = threading.Lock()
def reader():
    c = client(port)
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.time()
        rows, code, msg = attempt(c, 'SELECT name FROM gatehouse_meta.node')
        rec = {'t0': t0, 't1': time.time(), 'node': rows[0][0] if rows else None, 'code': code, 'msg': msg}
        with lock: reads.append(rec)
        if code is not None: c.disconnect()
        time.sleep(0.01)
def longq():
    c = client(port)
    rec = {'t0': time.time(), 'node': None, 'rows': 0, 'code': None, 'msg': ''}
    try:
        for row in c.execute_iter(${JSON.stringify(LONG_READ)}, settings={'max_block_size': 100}):
            rec['node'] = row[0]
            rec['rows'] += 1
    except ServerException as e:
        rec['code'] = e.code; rec['msg'] = str(e.message).split('\\n')[0][:300]
    except Exception as e:
        rec['code'] = -1; rec['msg'] = '%s: %s' % (type(e).__name__, str(e)[:300])
    rec['t1'] = time.time()
    with lock: longs.append(rec)
ts = [threading.Thread(target=longq) for _ in range(nlong)] + [threading.Thread(target=reader) for _ in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({'reads': reads, 'longs': longs}))
`;
}

interface LongRead {
  t0: number;
  t1: number;
  node: string | null;
  rows: number;
  code: number | null;
  msg: string;
}

const summary = (reads: ShortRead[]) => {
  const by: Record<string, number> = {};
  for (const r of reads) {
    const k = r.node ?? `error ${r.code}`;
    by[k] = (by[k] ?? 0) + 1;
  }
  return by;
};

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-faults-'));
  cluster = await startSandboxCluster();
  await Promise.all(
    cluster.nodes.map(async (n) => {
      await httpQuery(n.httpPort, 'CREATE DATABASE IF NOT EXISTS ryw');
      await httpQuery(n.httpPort, 'CREATE DATABASE IF NOT EXISTS rules');
      await httpQuery(n.httpPort, 'CREATE TABLE rules.w (x UInt8) ENGINE = Memory');
    }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(proxies.map((g) => g.stop()));
  await Promise.all(relays.map((r) => r.close()));
  await cluster?.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('a reader killed and restarted', () => {
  let gh: Gatehouse;
  let pid: number;

  beforeAll(async () => {
    gh = await gatehouse('kill', { extra: [FAST_HEALTH] });
    pid = gh.pid;
  });

  test('during 10 s queries: those on reader1 end with 210, reads started after the kill all succeed, reader1 is banned with a reason and returns after restart', async () => {
    const reader1 = cluster.readers[0];
    const run = python<{ reads: ShortRead[]; longs: LongRead[] }>(streamScript(gh.port, 13, 3, 4), 60_000);
    // Let the long queries start streaming (their first block arrives after 1 s).
    await sleep(2_500);
    const killStart = Date.now() / 1000;
    await reader1.kill();
    const killed = Date.now() / 1000;
    const banned = await waitStatus(gh, 'reader1', (s) => s.banned, 3_000);
    await sleep(1_500);
    await reader1.restart();
    const restarted = Date.now() / 1000;
    const { reads, longs } = await run;

    // The long queries: P2C on outstanding queries spreads the four over both readers.
    const onReader1 = longs.filter((l) => l.node === 'reader1');
    const onReader2 = longs.filter((l) => l.node === 'reader2');
    expect(longs).toHaveLength(4);
    expect(onReader1.length).toBeGreaterThan(0);
    for (const l of onReader1) {
      expect(l).toMatchObject({ code: 210 });
      expect(l.rows).toBeGreaterThan(0);
      expect(l.rows).toBeLessThan(1000);
      expect(l.t1).toBeGreaterThanOrEqual(killStart);
    }
    for (const l of onReader2) expect(l).toMatchObject({ code: null, rows: 1000 });

    // Reads started after the kill: none failed.
    const after = reads.filter((r) => r.t0 >= killed);
    expect(after.length).toBeGreaterThan(50);
    expect(after.filter((r) => r.code !== null)).toEqual([]);
    // Only reads in flight at the kill may have failed, with 210.
    for (const r of reads.filter((x) => x.code !== null)) {
      expect(r.code).toBe(210);
      expect(r.t0).toBeLessThan(killed);
    }

    expect(banned).toMatchObject({ banned: true });
    expect(banned?.banReason).toEqual(expect.any(String));
    expect(banned!.banReason!.length).toBeGreaterThan(0);

    // Back in rotation within a few seconds of the restart.
    const firstBack = reads.find((r) => r.t0 >= restarted && r.node === 'reader1');
    expect(firstBack).toBeDefined();
    expect(firstBack!.t0 - restarted).toBeLessThan(3);
    const lastSecond = reads.filter((r) => r.t0 >= restarted + 2);
    expect(summary(lastSecond)).toEqual({ reader1: expect.any(Number), reader2: expect.any(Number) });

    expect(gh.process.running).toBe(true);
    expect(gh.pid).toBe(pid);
    expect(gh.output()).toMatch(/backend banned/);
    expect(gh.output()).toMatch(/backend back in rotation/);
  }, 60_000);

  test('while idle: reads right after the kill all succeed on reader2; banned with a reason; back after restart', async () => {
    const reader1 = cluster.readers[0];
    // Warm both readers' pools (min_idle keeps an idle connection to each).
    const warm = await python<{ reads: ShortRead[] }>(streamScript(gh.port, 1, 2));
    expect(summary(warm.reads)).toEqual({ reader1: expect.any(Number), reader2: expect.any(Number) });
    await sleep(300);

    await reader1.kill();
    const during = await python<{ reads: ShortRead[] }>(streamScript(gh.port, 2, 2));
    expect(during.reads.length).toBeGreaterThan(20);
    expect(during.reads.filter((r) => r.code !== null)).toEqual([]);
    expect(summary(during.reads)).toEqual({ reader2: during.reads.length });
    const st = await waitStatus(gh, 'reader1', (s) => s.banned, 2_000);
    expect(st).toMatchObject({ banned: true, banReason: expect.stringMatching(/./) });
    // The ban is on /metrics too.
    const m = await gh.metrics();
    expect(m).toMatch(/gatehouse_backend_banned\{backend="reader1"\} 1/);
    expect(m).toMatch(/gatehouse_backend_banned\{backend="reader2"\} 0/);
    expect(m).toMatch(/gatehouse_backend_bans_total\{backend="reader1"\} [1-9]/);

    await reader1.restart();
    const restarted = Date.now();
    // Sequential reads (one client at a time, so the readers tie on outstanding queries) until one reaches reader1.
    let back = -1;
    const seen: string[] = [];
    while (Date.now() - restarted < 5_000) {
      const out = await ok(gh.port, 'SELECT name FROM gatehouse_meta.node');
      seen.push(out);
      if (out === 'reader1') {
        back = Date.now() - restarted;
        break;
      }
      await sleep(100);
    }
    const st2 = (await status(gh)).find((s) => s.name === 'reader1');
    expect({ back: back >= 0, sequentialReads: summary(seen.map((node) => ({ node }) as ShortRead)), reader1: st2?.banned }).toEqual({
      back: true,
      sequentialReads: expect.objectContaining({ reader1: 1 }),
      reader1: false,
    });
    expect(await waitStatus(gh, 'reader1', (s) => !s.banned, 3_000)).toMatchObject({ banned: false });
    expect(gh.process.running).toBe(true);
    expect(gh.pid).toBe(pid);
  }, 40_000);
});

test('a slow reader (30 ms per chunk through a relay) gets clearly fewer reads than the fast one', async () => {
  const relay = await startSlowRelay(cluster.readers[0].tcpPort, 30);
  relays.push(relay);
  const gh = await gatehouse('slow', {
    readers: [`{ address: "127.0.0.1:${relay.port}", name: reader1 }`, `{ address: "${hostPort(cluster.readers[1])}", name: reader2 }`],
    // This test is about the balancer: health checks that never ban, so that a loaded machine's slow pings cannot
    // send reads to the writer (fallback) and blur the count.
    extra: ['health: { interval_ms: 60000, timeout_ms: 5000, failures_to_ban: 1000, ban_ms: 1000, max_ban_ms: 1000 }'],
  });
  const res = await python<{ counts: Record<string, number>; errors: unknown[] }>(`
port = ${gh.port}
counts, errors = {}, []
lock = threading.Lock()
def work():
    c = client(port)
    for _ in range(50):
        rows, code, msg = attempt(c, 'SELECT name FROM gatehouse_meta.node')
        with lock:
            # An answer without its row is an error too (it would otherwise end this thread silently).
            if code is None and rows: counts[rows[0][0]] = counts.get(rows[0][0], 0) + 1
            else: errors.append([code, msg or 'no row: %r' % (rows,)])
ts = [threading.Thread(target=work) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({'counts': counts, 'errors': errors}))
`);
  expect(res.errors).toEqual([]);
  const slow = res.counts.reader1 ?? 0;
  const fast = res.counts.reader2 ?? 0;
  // Every read answered; a few may have fallen back to the writer when a reader's pool made them wait too long on a
  // loaded machine (a full `npm test` run: 394 of 400 on the readers once).
  expect(Object.values(res.counts).reduce((a, b) => a + b, 0)).toBe(400);
  expect(slow + fast).toBeGreaterThanOrEqual(380);
  // Equal weights: round robin would give 200/200. Least-outstanding keeps the slow one well under half the fast one's.
  expect(slow).toBeLessThan(fast / 2);
}, 60_000);

test('writer down: writes fail fast with 210 naming the writer; reads continue', async () => {
  const gh = await gatehouse('writer-down', { extra: [FAST_HEALTH] });
  await ok(gh.port, 'INSERT INTO rules.w VALUES (1)');
  await cluster.writer.kill();
  try {
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const res = await client(gh.port, 'INSERT INTO rules.w VALUES (2)');
      const took = Date.now() - t0;
      expect(errorCodeOf(res.stderr)).toBe(210);
      expect(res.stderr).toMatch(new RegExp(`writer|${cluster.writer.tcpPort}`));
      expect(took).toBeLessThan(2_000);
    }
    for (let i = 0; i < 4; i++) expect(await ok(gh.port, 'SELECT name FROM gatehouse_meta.node')).toMatch(/^reader[12]$/);
  } finally {
    await cluster.writer.restart();
  }
  // The writer comes back for writes.
  const deadline = Date.now() + 5_000;
  let last = '';
  while (Date.now() < deadline) {
    const res = await client(gh.port, 'INSERT INTO rules.w VALUES (3)');
    last = res.stderr;
    if (errorCodeOf(res.stderr) === null && res.code === 0) break;
    await sleep(200);
  }
  expect(last).toBe('');
}, 40_000);

describe('every reader down', () => {
  let withFallback: Gatehouse;
  let without: Gatehouse;
  beforeAll(async () => {
    withFallback = await gatehouse('fallback-on', { extra: [FAST_HEALTH] });
    without = await gatehouse('fallback-off', { extra: [FAST_HEALTH, 'routing: { reads_fallback_to_writer: false }'] });
    expect(await ok(withFallback.port, 'SELECT name FROM gatehouse_meta.node')).toMatch(/^reader[12]$/);
    expect(await ok(without.port, 'SELECT name FROM gatehouse_meta.node')).toMatch(/^reader[12]$/);
  });

  /** Kills both readers, runs `body`, restarts them (and waits until both proxies see them healthy again). */
  async function withReadersDown(body: () => Promise<void>): Promise<void> {
    await Promise.all(cluster.readers.map((r) => r.kill()));
    try {
      await body();
    } finally {
      await Promise.all(cluster.readers.map((r) => r.restart()));
      for (const g of [withFallback, without]) {
        for (const name of ['reader1', 'reader2']) await waitStatus(g, name, (s) => !s.banned && s.consecutiveFailures === 0, 5_000);
      }
    }
  }

  const read = async (g: Gatehouse) => {
    const res = await client(g.port, 'SELECT name FROM gatehouse_meta.node');
    return { out: res.stdout.trim(), code: errorCodeOf(res.stderr), stderr: res.stderr.trim() };
  };

  test('once both are banned: reads go to the writer with reads_fallback_to_writer, else 279', async () => {
    await withReadersDown(async () => {
      for (const g of [withFallback, without]) {
        for (const name of ['reader1', 'reader2']) expect(await waitStatus(g, name, (s) => s.banned, 3_000)).toMatchObject({ banned: true });
      }
      for (let i = 0; i < 4; i++) expect(await read(withFallback)).toMatchObject({ out: 'writer', code: null });
      for (let i = 0; i < 3; i++) {
        const r = await read(without);
        expect(r.code).toBe(279);
        expect(r.stderr).toMatch(/reads_fallback_to_writer/);
      }
    });
  }, 30_000);

  test('right after both died (not banned yet): the same, with no client-visible connect error', async () => {
    await withReadersDown(async () => {
      // Straight after the kill: the proxy learns at connect time that both readers are gone.
      const on = await read(withFallback);
      const off = await read(without);
      expect({ on, off }).toEqual({
        on: { out: 'writer', code: null, stderr: '' },
        off: { out: '', code: 279, stderr: expect.stringMatching(/reads_fallback_to_writer/) },
      });
    });
  }, 30_000);
});

describe('read-your-writes (ryw.t exists on the writer only)', () => {
  beforeAll(async () => {
    await httpQuery(cluster.writer.httpPort, 'CREATE TABLE ryw.t (x UInt32) ENGINE = Memory');
  });

  const script = (port: number) => `
c = client(${port})
out = {}
c.execute('INSERT INTO ryw.t VALUES', [(7,)])
out['right_after'] = attempt(c, 'SELECT count() FROM ryw.t WHERE x = 7')
time.sleep(2.3)
out['after_window'] = attempt(c, 'SELECT count() FROM ryw.t WHERE x = 7')
out['other_session'] = attempt(client(${port}), 'SELECT count() FROM ryw.t WHERE x = 7')
print(json.dumps(out))
`;

  test('read_after_write_ms: 2000: the SELECT right after the INSERT sees the row; after the window reads go to readers (60)', async () => {
    const gh = await gatehouse('ryw-on', { extra: ['routing: { read_after_write_ms: 2000 }'] });
    const out = await python<Record<string, [unknown, number | null, string]>>(script(gh.port));
    expect(out.right_after).toEqual([[[1]], null, '']);
    expect(out.after_window[1]).toBe(60);
    expect(out.other_session[1]).toBe(60);
  });

  test('read_after_write_ms: 0: the SELECT right after the INSERT goes to a reader (60)', async () => {
    const gh = await gatehouse('ryw-off', { extra: ['routing: { read_after_write_ms: 0 }'] });
    const out = await python<Record<string, [unknown, number | null, string]>>(script(gh.port));
    expect(out.right_after[1]).toBe(60);
  });
});

describe('routing rules and named groups', () => {
  let gh: Gatehouse;
  beforeAll(async () => {
    gh = await gatehouse('rules', {
      extra: [
        'groups:',
        `  g2: { writer: "${hostPort(cluster.readers[1])}", readers: [] }`,
        'routing:',
        '  rules:',
        '    - { match: { pattern: "forbidden_col" }, deny: "forbidden_col is not for you" }',
        '    - { match: { pattern: "to_writer_col" }, target: writer }',
        '    - { match: { pattern: "with_setting_col" }, settings: { max_block_size: 12345 } }',
        '    - { match: { pattern: "g2_col" }, target: g2 }',
      ],
    });
  });

  test('deny: 497 with the rule\'s message, nothing reaches a backend', async () => {
    const res = await client(gh.port, 'SELECT 1 AS forbidden_col');
    expect(errorCodeOf(res.stderr)).toBe(497);
    expect(res.stderr).toContain('forbidden_col is not for you');
    // The session is fine afterwards.
    expect(await ok(gh.port, 'SELECT 2')).toBe('2');
  });

  test('target: writer sends matching reads to the writer; others still go to the readers', async () => {
    for (let i = 0; i < 4; i++) expect(await ok(gh.port, 'SELECT name AS to_writer_col FROM gatehouse_meta.node')).toBe('writer');
    const others = new Set<string>();
    for (let i = 0; i < 4; i++) others.add(await ok(gh.port, 'SELECT name FROM gatehouse_meta.node'));
    expect([...others].sort()).toEqual(['reader1', 'reader2']);
  });

  test('settings: the injected setting is visible in system.settings (and wins over the client\'s)', async () => {
    const q = "SELECT value AS with_setting_col FROM system.settings WHERE name = 'max_block_size'";
    expect(await ok(gh.port, q)).toBe('12345');
    expect(await ok(gh.port, q, ['--max_block_size', '777'])).toBe('12345');
    expect(await ok(gh.port, "SELECT value FROM system.settings WHERE name = 'max_block_size'", ['--max_block_size', '777'])).toBe('777');
  });

  test('target: g2 routes reads to that group (its writer is reader2), as the read identity', async () => {
    for (let i = 0; i < 4; i++) {
      const out = await ok(gh.port, "SELECT name AS g2_col, (SELECT any(user) FROM system.processes WHERE query LIKE '%g2_col%') FROM gatehouse_meta.node");
      expect(out).toBe(`reader2\t${cluster.users.reader.name}`);
    }
  });
});

test('retry: a read whose reader refuses connections is answered by the other reader, no client-visible error', async () => {
  const closed = await freePort();
  const gh = await gatehouse('retry', {
    readers: [`{ address: "127.0.0.1:${closed}", name: reader1 }`, `{ address: "${hostPort(cluster.readers[1])}", name: reader2 }`],
    extra: [
      // Checks rarely and a high ban threshold: reader1 stays in rotation, so picks of it must be retried.
      'health: { interval_ms: 60000, failures_to_ban: 1000 }',
      'routing: { retries: 1 }',
    ],
  });
  const res = await python<{ reads: ShortRead[] }>(streamScript(gh.port, 2, 2));
  expect(res.reads.length).toBeGreaterThan(20);
  expect(res.reads.filter((r) => r.code !== null)).toEqual([]);
  expect(summary(res.reads)).toEqual({ reader2: res.reads.length });
  // reader1 was picked (and failed at connect) many times, yet is not banned.
  const st = (await status(gh)).find((s) => s.name === 'reader1')!;
  expect(st.banned).toBe(false);
  expect(st.consecutiveFailures).toBeGreaterThan(3);
  const metrics = await gh.metrics();
  expect(metrics).toMatch(/gatehouse_pool_connects_total\{[^}]*backend="reader1"[^}]*result="error"[^}]*\} [1-9]/);
}, 40_000);
