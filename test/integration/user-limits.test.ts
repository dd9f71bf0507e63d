/**
 * Issue 4's proxy users (YAML) against the real sandbox cluster through one `gatehouse serve` process: allowed
 * networks, read-only users, a default database, per-user backend identities, injected settings, max_connections,
 * max_concurrent_queries with its queue, max_queries_per_second, query_timeout_ms and password_env; every refusal
 * with its exact code and a message naming the limit.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorCodeOf, httpQuery, runClient, runPython, startSandboxCluster, type ClickHouseServer, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

const ENV_VAR = 'GH_TEST_ENV_USER_PW';
const ENV_PASSWORD = 'from-the-environment';

let cluster: SandboxCluster;
let tmpDir: string;
let gh: Gatehouse;

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hostPort = (n: ClickHouseServer) => `127.0.0.1:${n.tcpPort}`;
const pw = (user: string) => `${user}_pw`;
const marker = (what: string) => `mk_${what}_${randomUUID().slice(0, 8)}`;

/** Users by name → the rest of their YAML mapping (the password hash is added). */
const USERS: Record<string, string> = {
  app: '',
  net10: 'networks: ["10.0.0.0/8"]',
  net127: 'networks: ["192.168.0.0/16", "127.0.0.0/8"]',
  ro: 'readonly: true',
  dbuser: 'database: ul',
  ident: 'read_user: { name: default, password: "" }',
  setuser: 'settings: { max_threads: 3 }',
  conn2: 'max_connections: 2',
  conc: 'max_concurrent_queries: 2, queue_size: 2, queue_timeout_ms: 5000',
  concq: 'max_concurrent_queries: 1, queue_size: 1, queue_timeout_ms: 500',
  qps: 'max_queries_per_second: 5',
  tmo: 'query_timeout_ms: 1000',
};

function configYaml(): string {
  return [
    `writer: "${hostPort(cluster.writer)}"`,
    `readers: [${cluster.readers.map((r) => `"${hostPort(r)}"`).join(', ')}]`,
    'users:',
    ...Object.entries(USERS).map(([name, rest]) => `  - { name: ${name}, password_sha256_hex: ${sha256Hex(pw(name))}${rest ? `, ${rest}` : ''} }`),
    `  - { name: envuser, password_env: ${ENV_VAR} }`,
    `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
    `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
  ].join('\n');
}

/** clickhouse-client as a proxy user (password `<user>_pw` unless given). */
async function client(user: string, sql: string, opts: { password?: string; args?: string[] } = {}) {
  const res = await runClient(gh.port, ['--user', user, '--password', opts.password ?? pw(user), ...(opts.args ?? []), '--query', sql], '');
  return { out: res.stdout.trim(), code: errorCodeOf(res.stderr), stderr: res.stderr.trim(), exit: res.code };
}

async function ok(user: string, sql: string, opts: Parameters<typeof client>[2] = {}): Promise<string> {
  const r = await client(user, sql, opts);
  if (r.code !== null || r.exit !== 0) throw new Error(`expected success of ${sql} as ${user}\n${r.stderr}`);
  return r.out;
}

async function python<T>(script: string, timeoutMs = 60_000): Promise<T> {
  const res = await runPython(PY_PRELUDE + script, {}, timeoutMs);
  if (res.code !== 0) throw new Error(`python failed (${res.code}):\n${res.stderr}\n${res.stdout}`);
  const lines = res.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

const PY_PRELUDE = `
import json, threading, time, urllib.request, urllib.parse
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
def client(port, user, password=None):
    return Client('127.0.0.1', port=port, user=user, password=password if password is not None else user + '_pw', connect_timeout=5, send_receive_timeout=30)
def attempt(c, sql, **kw):
    """[rows, error code or None, first line of the message]"""
    try:
        return [c.execute(sql, **kw), None, '']
    except ServerException as e:
        return [None, e.code, str(e.message).split('\\n')[0][:300]]
    except Exception as e:
        return [None, -1, '%s: %s' % (type(e).__name__, str(e)[:300])]
def http(port, sql):
    return urllib.request.urlopen('http://127.0.0.1:%d/?query=%s' % (port, urllib.parse.quote(sql)), timeout=5).read().decode().strip()
`;

type Attempt = [unknown[][] | null, number | null, string];

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-users-'));
  cluster = await startSandboxCluster();
  await Promise.all(
    cluster.nodes.map(async (n) => {
      await httpQuery(n.httpPort, 'CREATE DATABASE IF NOT EXISTS ul');
      await httpQuery(n.httpPort, 'CREATE TABLE ul.t (x UInt8) ENGINE = Memory');
      await httpQuery(n.httpPort, 'INSERT INTO ul.t VALUES (1), (2), (3)');
    }),
  );
  await httpQuery(cluster.writer.httpPort, 'CREATE TABLE ul.w (x UInt8) ENGINE = Memory');
  const cfg = path.join(tmpDir, 'users.yaml');
  fs.writeFileSync(cfg, configYaml());
  gh = await startGatehouse(['--config', cfg, '--admin', '127.0.0.1:0'], 15_000, { [ENV_VAR]: ENV_PASSWORD });
}, 60_000);

afterAll(async () => {
  await gh?.stop();
  await cluster?.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('networks', () => {
  test('a user allowed only 10.0.0.0/8 is refused from 127.0.0.1 with 195 naming the user', async () => {
    const r = await client('net10', 'SELECT 1');
    expect(r.code).toBe(195);
    expect(r.stderr).toMatch(/net10/);
    expect(r.stderr).toMatch(/127\.0\.0\.1/);
  });

  test('a user allowed 127.0.0.0/8 (second entry of its list) gets in', async () => {
    expect(await ok('net127', 'SELECT 1')).toBe('1');
  });
});

test('readonly user: writes and DDL answered 164 by the proxy, nothing written; reads work', async () => {
  const ins = await client('ro', 'INSERT INTO ul.w VALUES (9)');
  expect(ins.code).toBe(164);
  expect(ins.stderr).toMatch(/read-only/);
  const ddl = await client('ro', 'CREATE TABLE ul.ro_made (x UInt8) ENGINE = Memory');
  expect(ddl.code).toBe(164);
  expect((await httpQuery(cluster.writer.httpPort, 'SELECT count() FROM ul.w')).trim()).toBe('0');
  expect((await httpQuery(cluster.writer.httpPort, "SELECT count() FROM system.tables WHERE database = 'ul' AND name = 'ro_made'")).trim()).toBe('0');
  expect(await ok('ro', 'SELECT count() FROM ul.t')).toBe('3');
});

test('database: the user\'s default database when the client names none; the client\'s own wins', async () => {
  expect(await ok('dbuser', 'SELECT currentDatabase()')).toBe('ul');
  expect(await ok('dbuser', 'SELECT count() FROM t')).toBe('3');
  expect(await ok('dbuser', 'SELECT currentDatabase()', { args: ['--database', 'system'] })).toBe('system');
  expect(await ok('app', 'SELECT currentDatabase()')).toBe('default');
});

test('read_user per user: its reads run as that backend account (system.processes); others as the global one', async () => {
  const who = (mk: string) => `SELECT '${mk}', (SELECT any(user) FROM system.processes WHERE query LIKE '%${mk}%')`;
  const a = marker('ident');
  expect(await ok('ident', who(a))).toBe(`${a}\tdefault`);
  const b = marker('app');
  expect(await ok('app', who(b))).toBe(`${b}\t${cluster.users.reader.name}`);
});

describe('settings injected for a user', () => {
  const q = "SELECT value FROM system.settings WHERE name = 'max_threads'";

  test('max_threads = 3 is visible in system.settings', async () => {
    expect(await ok('setuser', q)).toBe('3');
    expect(await ok('app', q)).not.toBe('3');
  });

  test('it wins over the client\'s own settings (Query packet: clickhouse-client flag, Python settings=)', async () => {
    expect(await ok('setuser', q, { args: ['--max_threads', '7'] })).toBe('3');
    const out = await python<Attempt>(`print(json.dumps(attempt(client(${gh.port}, 'setuser'), ${JSON.stringify(q)}, settings={'max_threads': 7})))`);
    expect(out).toEqual([[['3']], null, '']);
  });

  test('a query or SET that tries to change it in its own text is refused with 452, naming the setting', async () => {
    // The server applies a SETTINGS clause after the Query packet's settings, so the proxy cannot
    // let it through: it refuses, as ClickHouse's own setting constraints do.
    for (const sql of [`${q} SETTINGS max_threads = 7`, 'SET max_threads = 7']) {
      const res = await client('setuser', sql);
      expect(errorCodeOf(res.stderr)).toBe(452);
      expect(res.stderr).toContain('setting max_threads is set by the proxy');
    }
    expect(await ok('setuser', q)).toBe('3');
  });
});

test('max_connections: the third connection is refused with 202 naming max_connections; a freed slot admits again', async () => {
  const out = await python<Record<string, Attempt>>(`
p = ${gh.port}
c1, c2, c3, c4 = [client(p, 'conn2') for _ in range(4)]
out = {'c1': attempt(c1, 'SELECT 1'), 'c2': attempt(c2, 'SELECT 1'), 'c3': attempt(c3, 'SELECT 1')}
c1.disconnect()
time.sleep(0.3)
out['c4'] = attempt(c4, 'SELECT 1')
out['c2again'] = attempt(c2, 'SELECT 2')
print(json.dumps(out))
`);
  expect(out.c1).toEqual([[[1]], null, '']);
  expect(out.c2).toEqual([[[1]], null, '']);
  expect(out.c3[1]).toBe(202);
  expect(out.c3[2]).toMatch(/max_connections \(2\)/);
  expect(out.c4).toEqual([[[1]], null, '']);
  expect(out.c2again).toEqual([[[2]], null, '']);
});

describe('max_concurrent_queries', () => {
  /** n clients of `user`, connected first; then query i starts at i × 150 ms; each reports [result, t0, t1]. */
  const concurrent = (user: string, n: number, sql: string) =>
    python<{ res: Attempt; t0: number; t1: number }[]>(`
p, n = ${gh.port}, ${n}
cs = [client(p, '${user}') for _ in range(n)]
for c in cs: c.execute('SELECT 1')
out = [None] * n
start = time.time()
def run(i):
    time.sleep(max(0, start + i * 0.15 - time.time()))
    t0 = time.time()
    r = attempt(cs[i], ${JSON.stringify(sql)})
    out[i] = {'res': r, 't0': t0 - start, 't1': time.time() - start}
ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(out))
`);

  test('2 slots + queue of 2: six long queries → 2 run, 2 wait then run, 2 refused at once with 202', async () => {
    const out = await concurrent('conc', 6, 'SELECT sleep(1.5)');
    const codes = out.map((o) => o.res[1]);
    expect(codes).toEqual([null, null, null, null, 202, 202]);
    // The first two run at once; the queued two start when those end (~1.5 s).
    expect(out[0].t1 - out[0].t0).toBeLessThan(2.3);
    expect(out[1].t1 - out[1].t0).toBeLessThan(2.3);
    expect(out[2].t1).toBeGreaterThan(2.9);
    expect(out[3].t1).toBeGreaterThan(2.9);
    for (const o of out.slice(4)) {
      expect(o.t1 - o.t0).toBeLessThan(0.5);
      expect(o.res[2]).toMatch(/max_concurrent_queries \(2\).*queue_size 2/);
    }
  }, 30_000);

  test('queue_timeout_ms: a queued query gives up after ~500 ms with 202 naming queue_timeout_ms', async () => {
    const out = await concurrent('concq', 2, 'SELECT sleep(2)');
    expect(out[0].res[1]).toBeNull();
    expect(out[1].res[1]).toBe(202);
    expect(out[1].res[2]).toMatch(/queue_timeout_ms \(500\)/);
    const waited = out[1].t1 - out[1].t0;
    expect(waited).toBeGreaterThan(0.4);
    expect(waited).toBeLessThan(1.2);
  }, 30_000);
});

test('max_queries_per_second: a burst of 30 → about 5 succeed, the rest get 201 naming the limit', async () => {
  const out = await python<Attempt[]>(`
c = client(${gh.port}, 'qps')
print(json.dumps([attempt(c, 'SELECT 1') for _ in range(30)]))
`);
  const okCount = out.filter((r) => r[1] === null).length;
  const refused = out.filter((r) => r[1] === 201);
  expect(okCount).toBeGreaterThanOrEqual(5);
  expect(okCount).toBeLessThanOrEqual(10);
  expect(refused.length + okCount).toBe(30);
  expect(refused[0][2]).toMatch(/max_queries_per_second \(5\)/);
});

describe('query_timeout_ms (1000)', () => {
  const script = (sql: string, mk: string) => `
p = ${gh.port}
readers = [${cluster.readers.map((r) => r.httpPort).join(', ')}]
c = client(p, 'tmo')
t0 = time.time()
first = attempt(c, ${JSON.stringify(sql)}, settings={'max_block_size': 100})
took = time.time() - t0
# The same session, at once: what a client does after an error.
next_query = attempt(c, 'SELECT 42')
# The backend query is cancelled: it leaves system.processes.
left = None
t1 = time.time()
while time.time() - t1 < 5:
    n = sum(int(http(r, "SELECT count() FROM system.processes WHERE query LIKE '%${mk}%' AND query NOT LIKE '%system.processes%'")) for r in readers)
    if n == 0:
        left = time.time() - t0
        break
    time.sleep(0.05)
later = attempt(c, 'SELECT 43')
print(json.dumps({'first': first, 'took': took, 'next': next_query, 'left': left, 'later': later}))
`;
  interface Out {
    first: Attempt;
    took: number;
    next: Attempt;
    left: number | null;
    later: Attempt;
  }

  test('a 10 s read (blocks of 1 s) gets 159 at ~1 s, leaves system.processes, and the session runs the next query at once', async () => {
    const mk = marker('tmo');
    const out = await python<Out>(script(`SELECT '${mk}', sleepEachRow(0.01) FROM numbers(1000)`, mk));
    expect(out.first[1]).toBe(159);
    expect(out.first[2]).toMatch(/query_timeout_ms \(1000 ms\)/);
    expect(out.took).toBeGreaterThan(0.9);
    expect(out.took).toBeLessThan(2);
    expect(out.left).not.toBeNull();
    expect(out.left!).toBeLessThan(3);
    expect(out.next).toEqual([[[42]], null, '']);
    expect(out.later).toEqual([[[43]], null, '']);
  }, 30_000);

  test('a 2.5 s single-block sleep (not interruptible by Cancel) gets 159 at ~1 s; the next query on the session still works', async () => {
    const mk = marker('tmo1');
    const out = await python<Out>(script(`SELECT '${mk}', sleep(2.5)`, mk));
    expect(out.first[1]).toBe(159);
    expect(out.took).toBeLessThan(2);
    expect(out.next).toEqual([[[42]], null, '']);
    expect(out.later).toEqual([[[43]], null, '']);
  }, 30_000);
});

describe('password_env', () => {
  test('the password comes from the proxy\'s environment', async () => {
    expect(await ok('envuser', 'SELECT 1', { password: ENV_PASSWORD })).toBe('1');
  });

  test('a wrong password (or the variable\'s name) gets 516', async () => {
    expect((await client('envuser', 'SELECT 1', { password: 'nope' })).code).toBe(516);
    expect((await client('envuser', 'SELECT 1', { password: ENV_VAR })).code).toBe(516);
  });
});

test('the limits are visible in /status, and the proxy is still up', async () => {
  const res = await fetch(`http://127.0.0.1:${gh.adminPort}/status`);
  const st = (await res.json()) as { users: Record<string, { running: number; queued: number; limits: Record<string, unknown> }> };
  expect(st.users.conc).toMatchObject({ running: 0, queued: 0, limits: { maxConcurrentQueries: 2, queueSize: 2 } });
  expect(gh.process.running).toBe(true);
});
