/**
 * Issue 6, configuration reload and lifecycle, through a `gatehouse serve` process in front of the real sandbox
 * cluster: SIGHUP and POST /reload change users, backends and rules without dropping client connections (a load loop
 * runs throughout), a bad file is refused and the running config stays; SIGTERM lets a running query finish and exits
 * 0; failed logins are rate-limited per address; query log lines carry query_id and user, never a password.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROXY_MAX_REVISION, ServerCode } from '../../src/protocol';
import { errorCodeOf, runClient, startSandboxCluster, type ClickHouseServer, type RunResult, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { NativeClient } from '../helpers/native-client';
import { until } from '../helpers/poll';

const APP = { name: 'app', password: 'app-secret-pw' } as const;
const NEWBIE = { name: 'newbie', password: 'newbie-secret-pw' } as const;
const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

let cluster: SandboxCluster;
let tmpDir: string;
const started: Gatehouse[] = [];

const hostPort = (n: ClickHouseServer) => `127.0.0.1:${n.tcpPort}`;

function configYaml(opts: { readers: ClickHouseServer[]; users: { name: string; password: string }[]; extra?: string }): string {
  return [
    `writer: "${hostPort(cluster.writer)}"`,
    `readers: [${opts.readers.map((r) => `"${hostPort(r)}"`).join(', ')}]`,
    'admin: "127.0.0.1:0"',
    'log_level: debug',
    'users:',
    ...opts.users.map((u) => `  - { name: ${u.name}, password_sha256_hex: ${sha256Hex(u.password)} }`),
    `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
    `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
    opts.extra ?? '',
  ].join('\n');
}

async function start(file: string): Promise<Gatehouse> {
  const g = await startGatehouse(['--config', file]);
  started.push(g);
  return g;
}

function client(port: number, sql: string, as: { name: string; password: string } = APP, args: string[] = []): Promise<RunResult> {
  return runClient(port, ['--user', as.name, '--password', as.password, ...args, '--query', sql], '');
}

async function ok(port: number, sql: string, as: { name: string; password: string } = APP, args: string[] = []): Promise<string> {
  const res = await client(port, sql, as, args);
  if (res.code !== 0 || errorCodeOf(res.stderr) !== null) throw new Error(`expected success of ${sql}\n${res.stderr}`);
  return res.stdout;
}

async function admin(g: Gatehouse, method: string, p: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${g.adminPort}${p}`, { method });
  return { status: res.status, body: await res.text() };
}


/** A client on one persistent connection running SELECTs until stopped; counts answers and errors. */
async function loadLoop(port: number): Promise<{ stop(): Promise<{ answers: number; errors: string[]; closed: boolean }> }> {
  const c = await NativeClient.open(port);
  c.hello(PROXY_MAX_REVISION, APP.name, APP.password);
  const first = await c.next();
  if (first?.code !== ServerCode.Hello) throw new Error('no Hello');
  c.addendumIfNeeded();
  let stopping = false;
  let answers = 0;
  const errors: string[] = [];
  const done = (async () => {
    while (!stopping && !c.closed) {
      c.query('SELECT /* gatehouse: no_cache */ count() FROM numbers(1000)');
      try {
        const packets = await c.untilEnd(10_000);
        if (packets.at(-1)!.code === ServerCode.EndOfStream) answers++;
        else errors.push('exception');
      } catch (e) {
        errors.push((e as Error).message);
        return;
      }
    }
  })();
  return {
    async stop() {
      stopping = true;
      await done;
      const closed = c.closed;
      c.close();
      return { answers, errors, closed };
    },
  };
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-lifecycle-'));
  cluster = await startSandboxCluster();
}, 120_000);

afterAll(async () => {
  for (const g of started) await g.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('configuration reload', () => {
  it('SIGHUP adds a user and a reader without dropping a connection; a bad file is refused and the old config stays', async () => {
    const file = path.join(tmpDir, 'reload.yaml');
    fs.writeFileSync(file, configYaml({ readers: [cluster.readers[0]!], users: [APP] }));
    const g = await start(file);
    const load = await loadLoop(g.port);
    expect(errorCodeOf((await client(g.port, 'SELECT 1', NEWBIE)).stderr)).toBe(516);
    const nodeOf = async () => (await ok(g.port, 'SELECT name FROM gatehouse_meta.node')).trim();
    expect(await nodeOf()).toBe('reader1');

    fs.writeFileSync(file, configYaml({ readers: [cluster.readers[1]!], users: [APP, NEWBIE] }));
    process.kill(g.pid, 'SIGHUP');
    await until(() => g.output().includes('configuration reloaded'), 10_000, 'the reload log line');
    expect((await ok(g.port, 'SELECT 1', NEWBIE)).trim()).toBe('1');
    const nodes = new Set<string>();
    for (let i = 0; i < 6; i++) nodes.add(await nodeOf());
    expect([...nodes]).toEqual(['reader2']);

    // A bad file (an unknown key): refused with its errors, and everything keeps working as before.
    fs.writeFileSync(file, configYaml({ readers: [cluster.readers[0]!], users: [APP], extra: 'no_such_key: 1' }));
    const refused = await admin(g, 'POST', '/reload');
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('no_such_key');
    expect((await ok(g.port, 'SELECT 1', NEWBIE)).trim()).toBe('1');
    expect(await nodeOf()).toBe('reader2');

    // POST /reload with a good file removes the user again.
    fs.writeFileSync(file, configYaml({ readers: [cluster.readers[0]!], users: [APP] }));
    const applied = await admin(g, 'POST', '/reload');
    expect(applied.status).toBe(200);
    expect(errorCodeOf((await client(g.port, 'SELECT 1', NEWBIE)).stderr)).toBe(516);
    expect(await nodeOf()).toBe('reader1');

    // Limits and the cache change too: app may hold one connection (the load loop's), and reads are cached.
    const limited = configYaml({ readers: [cluster.readers[0]!], users: [APP], extra: 'cache: { enabled: true, ttl_seconds: 60 }' })
      .replace(`password_sha256_hex: ${sha256Hex(APP.password)} }`, `password_sha256_hex: ${sha256Hex(APP.password)}, max_connections: 1 }`);
    fs.writeFileSync(file, limited);
    expect((await admin(g, 'POST', '/reload')).status).toBe(200);
    expect(errorCodeOf((await client(g.port, 'SELECT 1')).stderr)).toBe(202);
    const hits = async () => Number(/^gatehouse_cache_hits_total (\d+)$/m.exec(await g.metrics())?.[1] ?? '0');
    fs.writeFileSync(file, limited.replace(', max_connections: 1 }', ' }'));
    expect((await admin(g, 'POST', '/reload')).status).toBe(200);
    const h0 = await hits();
    expect(await nodeOf()).toBe('reader1');
    expect(await nodeOf()).toBe('reader1');
    expect(await hits()).toBe(h0 + 1);

    const r = await load.stop();
    expect(r.errors).toEqual([]);
    expect(r.closed).toBe(false);
    expect(r.answers).toBeGreaterThan(20);
    expect(g.output()).not.toContain(NEWBIE.password);
    expect(g.output()).not.toContain(APP.password);
  }, 90_000);
});

describe('graceful shutdown', () => {
  it('SIGTERM: a query already running completes, new connections are refused, exit code 0', async () => {
    const file = path.join(tmpDir, 'term.yaml');
    fs.writeFileSync(file, configYaml({ readers: cluster.readers.slice(), users: [APP], extra: 'lifecycle: { shutdown_timeout_ms: 10000 }' }));
    const g = await start(file);
    const running = client(g.port, 'SELECT sleep(2), 42');
    await new Promise((r) => setTimeout(r, 500));
    g.process.signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const refused = await client(g.port, 'SELECT 1');
    const res = await running;
    expect(res.stdout).toBe('0\t42\n');
    expect(errorCodeOf(res.stderr)).toBeNull();
    expect(refused.code).not.toBe(0); // the listener is closed
    const exit = await g.process.exited;
    expect(exit.code).toBe(0);
    expect(g.output()).toContain('stopping: finishing the queries in flight');
  }, 60_000);

  it('cancels what is still running at the shutdown timeout and still exits 0', async () => {
    const file = path.join(tmpDir, 'term-timeout.yaml');
    fs.writeFileSync(file, configYaml({ readers: cluster.readers.slice(), users: [APP], extra: 'lifecycle: { shutdown_timeout_ms: 300 }' }));
    const g = await start(file);
    const running = client(g.port, 'SELECT sleep(3)');
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    g.process.signal('SIGTERM');
    const exit = await g.process.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8_000); // timeout + the backend drain bound, not the query's 3 s + more
    await running;
    // stdout may still be in the pipe when the exit is reported
    await until(() => g.output().includes('shutdown timeout'), 3_000, 'the shutdown timeout line');
  }, 60_000);
});

describe('failed logins', () => {
  it('blocks an address after max_failures wrong passwords, even with the right one, until block_ms passes', async () => {
    const file = path.join(tmpDir, 'login.yaml');
    fs.writeFileSync(file, configYaml({ readers: cluster.readers.slice(), users: [APP], extra: 'login_limit: { max_failures: 3, window_ms: 60000, block_ms: 2000 }' }));
    const g = await start(file);
    for (let i = 0; i < 3; i++) expect(errorCodeOf((await client(g.port, 'SELECT 1', { name: APP.name, password: `wrong-${i}` })).stderr)).toBe(516);
    const blocked = await client(g.port, 'SELECT 1');
    expect(errorCodeOf(blocked.stderr)).toBe(516);
    expect(blocked.stderr).toContain('too many failed logins');
    await new Promise((r) => setTimeout(r, 2_100));
    expect((await ok(g.port, 'SELECT 1')).trim()).toBe('1');
    expect(g.output()).not.toContain('wrong-0');
  }, 60_000);
});

describe('query log lines', () => {
  it('one debug line per query and a warn line per error, with query_id and user, and no password', async () => {
    const file = path.join(tmpDir, 'logs.yaml');
    fs.writeFileSync(file, configYaml({ readers: cluster.readers.slice(), users: [APP] }));
    const g = await start(file);
    const qid = `qid-${randomUUID()}`;
    await ok(g.port, 'SELECT 1', APP, ['--query_id', qid]);
    const badQid = `bad-${randomUUID()}`;
    await client(g.port, 'SELECT * FROM no_such_table_here', APP, ['--query_id', badQid]);
    await until(() => g.output().includes(badQid), 5_000, 'the error line');
    const lines = g.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const okLine = lines.find((l) => l.query_id === qid);
    expect(okLine).toMatchObject({ level: 20, user: APP.name, route: 'reader', kind: 'read', msg: 'query' });
    const errLine = lines.find((l) => l.query_id === badQid);
    expect(errLine).toMatchObject({ level: 40, user: APP.name, origin: 'backend', code: 60, msg: 'query failed' });
    expect(g.output()).not.toContain(APP.password);
    expect(g.output()).not.toContain(cluster.users.reader.password);
  }, 60_000);
});
