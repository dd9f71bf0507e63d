/**
 * HealthMonitor and Balancer against the real sandbox cluster (ClickHouse 18.16.1): active Ping
 * checks on dedicated connections, a reader killed (banned with a reason, skipped by the balancer)
 * and restarted (unbanned by the checker), passive failures, the replica-delay query, and close()
 * leaving no connection on any server (the servers' own TCPConnection metric).
 */
import * as net from 'node:net';
import {
  Balancer,
  DEFAULT_REPLICA_DELAY_QUERY,
  HealthMonitor,
  type BackendStatus,
  type BackendTarget,
  type HealthOptions,
  type UnbanCause,
} from '../../src/pool';
import { freePort, httpQuery, startSandboxCluster, type ClickHouseServer, type SandboxCluster } from '../helpers';

const INTERVAL_MS = 200;
const TIMEOUT_MS = 500;
const FAILURES_TO_BAN = 3;
/** Scheduling, process exit and loaded-CI slack on top of the nominal bounds. */
const SLACK_MS = 700;

let cluster: SandboxCluster;
let writer: BackendTarget;
let reader1: BackendTarget;
let reader2: BackendTarget;
const monitors: HealthMonitor[] = [];

beforeAll(async () => {
  cluster = await startSandboxCluster({ readers: 2 });
  writer = { name: 'writer', host: '127.0.0.1', port: cluster.writer.tcpPort };
  reader1 = { name: 'reader1', host: '127.0.0.1', port: cluster.readers[0].tcpPort };
  reader2 = { name: 'reader2', host: '127.0.0.1', port: cluster.readers[1].tcpPort };
}, 60_000);

afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.close()));
});

afterAll(async () => {
  await cluster?.stop();
});

function options(over: Partial<HealthOptions> = {}): HealthOptions {
  return {
    intervalMs: INTERVAL_MS,
    timeoutMs: TIMEOUT_MS,
    failuresToBan: FAILURES_TO_BAN,
    // Long enough that no ban expires during a reader's restart: only a check lifts it here.
    banMs: 20_000,
    maxBanMs: 60_000,
    maxReplicaDelaySeconds: null,
    replicaDelayQuery: DEFAULT_REPLICA_DELAY_QUERY,
    ...over,
  };
}

function monitor(over: Partial<HealthOptions> = {}): HealthMonitor {
  const m = new HealthMonitor(
    [
      { target: writer, role: 'writer', weight: 1 },
      { target: reader1, role: 'reader', weight: 1 },
      { target: reader2, role: 'reader', weight: 1 },
    ],
    (t) => {
      const u = t.name === 'writer' ? cluster.users.writer : cluster.users.reader;
      return { user: u.name, password: u.password };
    },
    options(over),
  );
  monitors.push(m);
  return m;
}

function statusOf(m: HealthMonitor, name: string): BackendStatus {
  const s = m.status().find((x) => x.name === name);
  if (!s) throw new Error(`no status for ${name}`);
  return s;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The server's count of open native connections (its own, not ours). */
async function tcpConnections(node: ClickHouseServer): Promise<number> {
  const out = await httpQuery(node.httpPort, "SELECT value FROM system.metrics WHERE metric = 'TCPConnection'");
  return Number(out.trim() || '0');
}

/** Resolves with the first `event` for backend `name`. */
function nextEvent(
  m: HealthMonitor,
  event: 'ban' | 'unban',
  name: string,
): Promise<{ status: BackendStatus; cause?: UnbanCause; at: number }> {
  return new Promise((resolve) => {
    const on = (status: BackendStatus, cause?: UnbanCause): void => {
      if (status.name !== name) return;
      if (event === 'ban') m.off('ban', on);
      else m.off('unban', on);
      resolve({ status, cause, at: Date.now() });
    };
    if (event === 'ban') m.on('ban', on);
    else m.on('unban', on);
  });
}

test('all healthy, one check connection per server; close() leaves none', async () => {
  const m = monitor();
  m.start();
  await waitFor('first checks', () => m.status().every((s) => s.lastCheckMs !== null), 5_000);
  expect(m.status().map((s) => [s.name, s.healthy, s.banned, s.consecutiveFailures])).toEqual([
    ['writer', true, false, 0],
    ['reader1', true, false, 0],
    ['reader2', true, false, 0],
  ]);
  // A few intervals later: still one connection per server (reused, not reopened).
  await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS));
  for (const node of cluster.nodes) expect(await tcpConnections(node)).toBe(1);
  await m.close();
  for (const node of cluster.nodes) await waitFor(`no connection on ${node.name}`, async () => (await tcpConnections(node)) === 0, 2_000);
});

test('a killed reader is banned with a reason and skipped; after restart the checker lifts the ban', async () => {
  const m = monitor();
  const balancer = new Balancer(
    [
      { target: reader1, weight: 1 },
      { target: reader2, weight: 1 },
    ],
    m,
  );
  m.start();
  await waitFor('first checks', () => m.status().every((s) => s.lastCheckMs !== null && s.healthy), 5_000);
  const picked = new Set<string>();
  for (let i = 0; i < 50; i++) picked.add(balancer.pick()?.name ?? 'null');
  expect([...picked].sort()).toEqual(['reader1', 'reader2']);

  const banned = nextEvent(m, 'ban', 'reader1');
  await cluster.readers[0].kill('SIGKILL');
  const killedAt = Date.now();
  const ban = await banned;
  const bound = FAILURES_TO_BAN * INTERVAL_MS + TIMEOUT_MS + SLACK_MS;
  expect(ban.at - killedAt).toBeLessThan(bound);
  expect(ban.status.banned).toBe(true);
  expect(ban.status.banReason).toMatch(/^3 consecutive failures: .*reader1 \(127\.0\.0\.1:\d+\).*(ECONNREFUSED|closed)/);
  expect(ban.status.bannedUntil).toBeGreaterThan(Date.now());
  expect(m.isAvailable(reader1)).toBe(false);
  for (let i = 0; i < 100; i++) expect(balancer.pick()).toBe(reader2);
  // The writer and the other reader are unaffected.
  expect(statusOf(m, 'writer').healthy).toBe(true);
  expect(statusOf(m, 'reader2').healthy).toBe(true);

  const unbanned = nextEvent(m, 'unban', 'reader1');
  await cluster.readers[0].restart();
  const restartedAt = Date.now();
  const unban = await unbanned;
  expect(unban.cause).toBe('check succeeded');
  expect(unban.at - restartedAt).toBeLessThan(2 * INTERVAL_MS + TIMEOUT_MS + SLACK_MS);
  expect(statusOf(m, 'reader1')).toMatchObject({ healthy: true, banned: false, banReason: null, consecutiveFailures: 0 });
  picked.clear();
  for (let i = 0; i < 50; i++) picked.add(balancer.pick()?.name ?? 'null');
  expect([...picked].sort()).toEqual(['reader1', 'reader2']);
  await m.close();
  for (const node of cluster.nodes) await waitFor(`no connection on ${node.name}`, async () => (await tcpConnections(node)) === 0, 2_000);
}, 40_000);

test('passive failures ban at once; the next good check lifts the ban', async () => {
  const m = monitor();
  m.start();
  await waitFor('first checks', () => m.status().every((s) => s.lastCheckMs !== null && s.healthy), 5_000);
  const bans: BackendStatus[] = [];
  m.on('ban', (s) => bans.push(s));
  const unbanned = nextEvent(m, 'unban', 'reader2');
  for (let i = 0; i < FAILURES_TO_BAN; i++) m.reportFailure(reader2, 'Gatehouse: bad bytes from reader2: unknown packet 99');
  expect(bans.map((s) => [s.name, s.banReason])).toEqual([['reader2', '3 consecutive failures: bad bytes from reader2: unknown packet 99']]);
  expect(m.isAvailable(reader2)).toBe(false);
  const bannedAt = Date.now();
  const unban = await unbanned;
  expect(unban.cause).toBe('check succeeded');
  expect(unban.at - bannedAt).toBeLessThan(INTERVAL_MS + TIMEOUT_MS + SLACK_MS);
});

test('replica delay: readers over the maximum lag and are skipped; the writer is not queried', async () => {
  // The sandbox has no replication; each node's marker row stands in for its delay.
  const m = monitor({
    maxReplicaDelaySeconds: 10,
    replicaDelayQuery: "SELECT if(any(name) = 'reader1', 30, 2) FROM gatehouse_meta.node",
  });
  const balancer = new Balancer(
    [
      { target: reader1, weight: 5 },
      { target: reader2, weight: 1 },
    ],
    m,
  );
  m.start();
  await waitFor('lag checks', () => statusOf(m, 'reader2').replicaDelaySeconds !== null && statusOf(m, 'reader1').lagging, 5_000);
  expect(statusOf(m, 'reader1')).toMatchObject({ replicaDelaySeconds: 30, lagging: true, healthy: true, banned: false });
  expect(statusOf(m, 'reader2')).toMatchObject({ replicaDelaySeconds: 2, lagging: false });
  expect(statusOf(m, 'writer')).toMatchObject({ replicaDelaySeconds: null, lagging: false });
  expect(m.isAvailable(reader1)).toBe(false);
  for (let i = 0; i < 100; i++) expect(balancer.pick()).toBe(reader2);
  // Every other reader tried: the lagging one is still better than none.
  expect(balancer.pick(new Set(['reader2']))).toBe(reader1);

  // The default query runs on 18.16 (no replicated tables: delay 0).
  const d = monitor({ maxReplicaDelaySeconds: 10 });
  d.start();
  await waitFor('default lag query', () => statusOf(d, 'reader1').replicaDelaySeconds !== null, 5_000);
  expect(statusOf(d, 'reader1')).toMatchObject({ replicaDelaySeconds: 0, lagging: false });
});

test('a failing delay query is no health failure: delay unknown, not lagging', async () => {
  const m = monitor({ maxReplicaDelaySeconds: 10, replicaDelayQuery: 'SELECT max(x) FROM no_such_db.no_such_table' });
  m.start();
  await waitFor('checks', () => m.status().every((s) => s.lastCheckMs !== null), 5_000);
  await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
  for (const s of m.status()) expect(s).toMatchObject({ healthy: true, replicaDelaySeconds: null, lagging: false });
});

test('a backend that accepts but never answers: handshake timeouts ban it; close() mid-handshake leaves no socket', async () => {
  const sockets = new Set<net.Socket>();
  const mute = net.createServer((s) => {
    sockets.add(s);
    s.resume(); // read (and drop) the Hello, so the peer's close is seen
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  try {
    const port = (mute.address() as net.AddressInfo).port;
    const silent: BackendTarget = { name: 'silent', host: '127.0.0.1', port };
    const m = new HealthMonitor([{ target: silent, role: 'reader', weight: 1 }], () => ({ user: 'u', password: '' }), options());
    monitors.push(m);
    const banned = nextEvent(m, 'ban', 'silent');
    const startedAt = Date.now();
    m.start();
    const ban = await banned;
    expect(ban.status.banReason).toBe(
      `3 consecutive failures: no connection to silent (127.0.0.1:${port}) as u: connect and handshake took longer than ${TIMEOUT_MS} ms`,
    );
    expect(ban.at - startedAt).toBeLessThan(FAILURES_TO_BAN * (INTERVAL_MS + TIMEOUT_MS) + SLACK_MS);
    // The checker keeps probing: wait until a handshake is in flight, then close.
    await waitFor('a probe in flight', () => sockets.size === 1, 2_000);
    const closing = Date.now();
    await m.close();
    expect(Date.now() - closing).toBeLessThanOrEqual(TIMEOUT_MS + 100);
    await waitFor('the probe socket closed', () => sockets.size === 0, 1_000);
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    expect(sockets.size).toBe(0);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => mute.close(r));
  }
});

test('a backend that stays down: the ban is renewed, doubling up to maxBanMs, never lifted in between', async () => {
  const port = await freePort(); // nobody listens: ECONNREFUSED
  const down: BackendTarget = { name: 'down', host: '127.0.0.1', port };
  const m = new HealthMonitor(
    [{ target: down, role: 'reader', weight: 1 }],
    () => ({ user: 'u', password: '' }),
    options({ banMs: 300, maxBanMs: 700 }),
  );
  monitors.push(m);
  const bans: { at: number; until: number }[] = [];
  let unbans = 0;
  m.on('ban', (st) => bans.push({ at: Date.now(), until: st.bannedUntil ?? 0 }));
  m.on('unban', () => unbans++);
  m.start();
  await waitFor('three bans', () => bans.length >= 3, 5_000);
  expect(bans.map((b) => Math.round((b.until - b.at) / 100) * 100)).toEqual([300, 600, 700]);
  expect(unbans).toBe(0);
  expect(m.isAvailable(down)).toBe(false);
  expect(statusOf(m, 'down').banReason).toMatch(/^\d+ consecutive failures: no connection to down .*ECONNREFUSED$/);
});
