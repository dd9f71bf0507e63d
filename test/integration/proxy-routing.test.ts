/**
 * Issue 3 against the real sandbox cluster through a `gatehouse serve` process: routing proven by where statements
 * land (node markers, checked on each node directly), the backend identity of reads and writes, proxy
 * authentication (identities, readonly proxy users, pass-through), and session state (USE, SET, temporary tables,
 * pool.mode: session) compared with a direct connection.
 *
 * Who ran a query: 18.16 has no currentUser(), so a query reports its own backend account with
 * `(SELECT any(user) FROM system.processes WHERE query LIKE '%<marker>%')` (the query's own text carries the marker).
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ClientCode,
  PROXY_MAX_REVISION,
  Reader,
  ServerCode,
  Writer,
  decodeServerPacket,
  encodeClientPacket,
  type ServerException,
} from '../../src/protocol';
import {
  errorCodeOf,
  httpQuery,
  runClient,
  runPython,
  startSandboxCluster,
  type ClickHouseServer,
  type RunResult,
  type SandboxCluster,
} from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

const APP = { name: 'app', password: 'app_pw' } as const;
const VIEWER = { name: 'viewer', password: 'viewer_pw' } as const;
/** clickhouse-client 18.16's revision. */
const CLIENT_REVISION = 54412;

let cluster: SandboxCluster;
let gh: Gatehouse;
let tmpDir: string;
const extra: Gatehouse[] = [];

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hostPort = (n: ClickHouseServer) => `127.0.0.1:${n.tcpPort}`;
const marker = (what: string) => `mk-${what}-${randomUUID().slice(0, 8)}`;
const userOf = (mk: string) => `(SELECT any(user) FROM system.processes WHERE query LIKE '%${mk}%')`;

/** Writes a YAML config into the test's temp dir and returns its path. */
function writeConfig(name: string, yaml: string): string {
  const file = path.join(tmpDir, name);
  fs.writeFileSync(file, yaml);
  return file;
}

function identitiesYaml(readers: readonly ClickHouseServer[], extraYaml = ''): string {
  return [
    `writer: "${hostPort(cluster.writer)}"`,
    `readers: [${readers.map((r) => `"${hostPort(r)}"`).join(', ')}]`,
    'users:',
    // A config file holds proxy users' password hashes, never the passwords (issue 4).
    `  - { name: ${APP.name}, password_sha256_hex: ${sha256Hex(APP.password)} }`,
    `  - { name: ${VIEWER.name}, password_sha256_hex: ${sha256Hex(VIEWER.password)}, readonly: true }`,
    `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
    `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
    extraYaml,
  ].join('\n');
}

async function startExtra(args: string[]): Promise<Gatehouse> {
  const g = await startGatehouse(args);
  extra.push(g);
  return g;
}

/** clickhouse-client through a port as a user (default: the proxy user `app`); stdin is always given. */
function client(port: number, sql: string, opts: { as?: { name: string; password: string } | null; args?: string[]; stdin?: string } = {}): Promise<RunResult> {
  const as = opts.as === undefined ? APP : opts.as;
  const auth = as ? ['--user', as.name, '--password', as.password] : [];
  return runClient(port, [...auth, ...(opts.args ?? []), '--query', sql], opts.stdin ?? '');
}

/** Like {@link client} but fails the test (with stderr) unless the statement succeeded. */
async function ok(port: number, sql: string, opts: Parameters<typeof client>[2] = {}): Promise<string> {
  const res = await client(port, sql, opts);
  if (res.code !== 0 || res.timedOut || errorCodeOf(res.stderr) !== null) {
    throw new Error(`expected success of ${sql}\nexit ${res.code}\n${res.stderr}`);
  }
  return res.stdout;
}

/** The ClickHouse error code clickhouse-client printed (the 18.16 client may exit 139 after one; compare codes). */
async function codeOf(port: number, sql: string, opts: Parameters<typeof client>[2] = {}): Promise<number | null> {
  const res = await client(port, sql, opts);
  return errorCodeOf(res.stderr);
}

/** A statement straight to a node over HTTP as `default` (no native connection, no proxy). */
const direct = (node: ClickHouseServer, sql: string) => httpQuery(node.httpPort, sql);

const rows = (tsv: string) => tsv.trim().split('\n').filter((l) => l.length > 0);

/** Runs a Python driver script that prints one JSON line last; returns it parsed. */
async function python<T>(script: string, timeoutMs = 60_000): Promise<T> {
  const res = await runPython(script, {}, timeoutMs);
  if (res.code !== 0) throw new Error(`python failed (${res.code}):\n${res.stderr}\n${res.stdout}`);
  return JSON.parse(rows(res.stdout).at(-1)!) as T;
}

/** Python prologue: a Client factory and an `err()` helper that reports a ServerException's code. */
const PY_PRELUDE = `
import json
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
def client(port, user, password):
    return Client('127.0.0.1', port=port, user=user, password=password, connect_timeout=5, send_receive_timeout=30)
def err(f):
    try:
        f()
        return None
    except ServerException as e:
        return e.code
def err_msg(f):
    try:
        f()
        return [None, '']
    except ServerException as e:
        return [e.code, str(e.message).split('\\n')[0][:300]]
    except Exception as e:  # a network error or a timeout: no server code
        return [-1, '%s: %s' % (type(e).__name__, str(e)[:300])]
`;

/**
 * Sends a Hello on a raw socket and reports the first server packet and whether the server then closed the
 * connection by itself (within `closeWithinMs`).
 */
function rawHello(port: number, user: string, password: string, closeWithinMs = 2_000): Promise<{ packet: ReturnType<typeof decodeServerPacket> | null; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let closed = false;
    const timer = setTimeout(() => finish(), closeWithinMs);
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      let packet: ReturnType<typeof decodeServerPacket> | null = null;
      try {
        packet = buf.length > 0 ? decodeServerPacket(new Reader(buf), CLIENT_REVISION) : null;
      } catch (e) {
        return reject(e);
      }
      resolve({ packet, closed });
    };
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', () => {
      closed = true;
      finish();
    });
    sock.on('connect', () => {
      const w = new Writer(128);
      encodeClientPacket(
        w,
        { code: ClientCode.Hello, clientName: 'gatehouse-test', versionMajor: 18, versionMinor: 16, revision: CLIENT_REVISION, database: '', user, password },
        CLIENT_REVISION,
      );
      sock.write(w.toBuffer());
    });
  });
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-routing-'));
  cluster = await startSandboxCluster();
  // Node-specific objects, so a read's answer says which node gave it.
  await Promise.all(
    cluster.nodes.map(async (n) => {
      await direct(n, 'CREATE DATABASE IF NOT EXISTS rt');
      await direct(n, `CREATE TABLE rt.only_${n.name} (x UInt8) ENGINE = Memory`);
      await direct(n, `CREATE TABLE rt.desc_t (col_${n.name} UInt8) ENGINE = Memory`);
    }),
  );
  await direct(cluster.writer, 'CREATE TABLE rt.ro_target (x UInt8) ENGINE = Memory');
  const cfg = writeConfig('main.yaml', identitiesYaml(cluster.readers));
  gh = await startGatehouse(['--config', cfg, '--admin', '127.0.0.1:0']);
}, 60_000);

afterAll(async () => {
  await Promise.all([gh, ...extra].filter(Boolean).map((g) => g.stop()));
  await cluster?.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('routing, proven by node markers', () => {
  test('SELECT, WITH … SELECT, parenthesised SELECT, comments and lower case: readers only, both used, as gh_reader', async () => {
    const forms: ((mk: string) => string)[] = [
      (mk) => `SELECT name, ${userOf(mk)} FROM gatehouse_meta.node`,
      (mk) => `WITH ${userOf(mk)} AS u SELECT name, u FROM gatehouse_meta.node`,
      (mk) => `(SELECT name, ${userOf(mk)} FROM gatehouse_meta.node)`,
      (mk) => `/* a comment */ -- and another\n select name, ${userOf(mk)} from gatehouse_meta.node`,
    ];
    for (const form of forms) {
      const answers: string[] = [];
      for (let i = 0; i < 4; i++) answers.push(rows(await ok(gh.port, form(marker('read'))))[0]);
      // Each of the 4 runs: one row, from a reader, as the read identity; round robin uses both readers.
      for (const a of answers) expect(a).toMatch(/^reader[12]\tgh_reader$/);
      expect(new Set(answers.map((a) => a.split('\t')[0]))).toEqual(new Set(['reader1', 'reader2']));
    }
  });

  test('SHOW TABLES, DESCRIBE and EXISTS are answered by the readers', async () => {
    const shown = new Set<string>();
    const described = new Set<string>();
    const exists = new Set<string>();
    // One statement kind per loop: round robin alternates readers between consecutive reads.
    for (let i = 0; i < 4; i++) shown.add(rows(await ok(gh.port, "SHOW TABLES FROM rt LIKE 'only_%'")).join(','));
    for (let i = 0; i < 4; i++) described.add(rows(await ok(gh.port, 'DESCRIBE TABLE rt.desc_t'))[0].split('\t')[0]);
    // only_writer exists on the writer alone; only_reader1 on reader1 alone.
    for (let i = 0; i < 4; i++) expect((await ok(gh.port, 'EXISTS TABLE rt.only_writer')).trim()).toBe('0');
    for (let i = 0; i < 4; i++) exists.add((await ok(gh.port, 'EXISTS TABLE rt.only_reader1')).trim());
    expect((await direct(cluster.writer, 'EXISTS TABLE rt.only_writer')).trim()).toBe('1');
    expect(shown).toEqual(new Set(['only_reader1', 'only_reader2']));
    expect(described).toEqual(new Set(['col_reader1', 'col_reader2']));
    expect(exists).toEqual(new Set(['0', '1']));
  });

  test('writes (CREATE, INSERT, ALTER, SYSTEM, OPTIMIZE, DROP) land on the writer as gh_writer', async () => {
    const onNodes = async (sql: string) => Promise.all(cluster.nodes.map(async (n) => (await direct(n, sql)).trim()));

    await ok(gh.port, 'CREATE DATABASE wdb');
    expect(await onNodes("SELECT count() FROM system.databases WHERE name = 'wdb'")).toEqual(['1', '0', '0']);

    await ok(gh.port, 'CREATE TABLE wdb.t (n UInt64, u String) ENGINE = MergeTree ORDER BY n');
    expect(await onNodes("SELECT count() FROM system.tables WHERE database = 'wdb' AND name = 't'")).toEqual(['1', '0', '0']);

    // INSERT … SELECT records its own backend account; VALUES inline; FORMAT with data from stdin.
    const mk = marker('insert');
    await ok(gh.port, `INSERT INTO wdb.t SELECT 1, ${userOf(mk)}`);
    await ok(gh.port, "INSERT INTO wdb.t VALUES (2, 'values')");
    await ok(gh.port, 'INSERT INTO wdb.t FORMAT TSV', { stdin: '3\tstdin\n' });
    expect(await direct(cluster.writer, 'SELECT n, u FROM wdb.t ORDER BY n')).toBe('1\tgh_writer\n2\tvalues\n3\tstdin\n');

    // CREATE … AS SELECT records the account of a DDL statement.
    const mkc = marker('ctas');
    await ok(gh.port, `CREATE TABLE wdb.c ENGINE = Memory AS SELECT ${userOf(mkc)} AS u`);
    expect(await direct(cluster.writer, 'SELECT u FROM wdb.c')).toBe('gh_writer\n');

    await ok(gh.port, 'ALTER TABLE wdb.t ADD COLUMN extra String');
    expect(await onNodes("SELECT count() FROM system.columns WHERE database = 'wdb' AND table = 't' AND name = 'extra'")).toEqual(['1', '0', '0']);

    // SYSTEM STOP MERGES took effect on the writer: a direct OPTIMIZE there is cancelled (236).
    await ok(gh.port, 'SYSTEM STOP MERGES wdb.t');
    await expect(direct(cluster.writer, 'OPTIMIZE TABLE wdb.t FINAL')).rejects.toMatchObject({ chCode: 236 });
    await ok(gh.port, 'SYSTEM START MERGES wdb.t');
    expect((await direct(cluster.writer, "SELECT count() FROM system.parts WHERE database = 'wdb' AND table = 't' AND active")).trim()).toBe('3');
    await ok(gh.port, 'OPTIMIZE TABLE wdb.t FINAL');
    expect((await direct(cluster.writer, "SELECT count() FROM system.parts WHERE database = 'wdb' AND table = 't' AND active")).trim()).toBe('1');

    await ok(gh.port, 'DROP TABLE wdb.c');
    expect(await onNodes("SELECT count() FROM system.tables WHERE database = 'wdb'")).toEqual(['1', '0', '0']);
    await ok(gh.port, 'DROP DATABASE wdb');
    expect(await onNodes("SELECT count() FROM system.databases WHERE name = 'wdb'")).toEqual(['0', '0', '0']);
  });

  test('unknown statements go to the writer (the server that logs the failure is the writer)', async () => {
    // clickhouse-client 18.16 parses locally and would not send these; the Python driver sends text as is. Each runs
    // on a proxy of its own: an 18.16 syntax error leaves the backend connection out of sync (see the next test).
    for (const sql of [(mk: string) => `FROBNICATE '${mk}'`, (mk: string) => `SELECT '${mk}'; SELECT 2`]) {
      const own = await startExtra(['--config', writeConfig('unknown.yaml', identitiesYaml(cluster.readers)), '--admin', '127.0.0.1:0']);
      const mk = marker('unknown');
      const [code, msg] = await python<[number | null, string]>(`${PY_PRELUDE}
c = client(${own.port}, '${APP.name}', '${APP.password}')
print(json.dumps(err_msg(lambda: c.execute("${sql(mk)}"))))
`);
      expect([code, msg]).toEqual([62, expect.stringContaining('Syntax error')]); // forwarded from the backend
      for (const n of cluster.nodes) expect([n.name, fs.readFileSync(n.errorLogFile, 'utf8').includes(mk)]).toEqual([n.name, n === cluster.writer]);
      expect(await own.metrics()).toMatch(/gatehouse_queries_total\{route="writer",kind="unknown",user="app",outcome="error"\} 1\n/);
      await own.stop();
    }
  });

  test('a backend syntax error does not break the pooled connection for the next client', async () => {
    // 18.16 does not read the rest of a query (the empty Data block ending external tables) after a parse error: it
    // reads it as the next packet, answers "Unexpected packet Data received from client" (101) and closes. A client
    // queued for the same pooled connection (max_size 1) gets it right after the syntax error.
    const own = await startExtra([
      '--config', writeConfig('poison.yaml', identitiesYaml([cluster.readers[0]], 'pool: { max_size: 1, min_idle: 0, wait_timeout_ms: 10000 }')),
    ]);
    await direct(cluster.writer, 'CREATE TABLE IF NOT EXISTS rt.poison (x UInt8) ENGINE = Memory');
    const got = await python<Record<string, [number | null, string]>>(`${PY_PRELUDE}
import threading, time
res = {}
def run(name, q):
    c = Client('127.0.0.1', port=${own.port}, user='${APP.name}', password='${APP.password}', connect_timeout=5, send_receive_timeout=8)
    res[name] = err_msg(lambda: c.execute(q))
    c.disconnect()
def scenario(hold, bad, good):
    ts = [threading.Thread(target=run, args=a) for a in [hold, bad, good]]
    for t in ts:
        t.start()
        time.sleep(0.2)
    for t in ts:
        t.join()
scenario(('w_hold', 'INSERT INTO rt.poison SELECT toUInt8(sleep(1))'), ('w_bad', 'FROBNICATE 1'), ('w_next', 'INSERT INTO rt.poison SELECT 2'))
scenario(('r_hold', 'SELECT sleep(1)'), ('r_bad', 'SELECT 1 +'), ('r_next', 'SELECT name FROM gatehouse_meta.node'))
print(json.dumps(res))
`);
    const codes = Object.fromEntries(Object.entries(got).map(([k, [c, m]]) => [k, c === null || c === 62 ? c : `${c}: ${m}`]));
    expect(codes).toEqual({ w_hold: null, w_bad: 62, w_next: null, r_hold: null, r_bad: 62, r_next: null });
  }, 60_000);

  test('with no --reader, reads go to the writer (as the read identity)', async () => {
    const solo = await startExtra([
      '--writer', hostPort(cluster.writer),
      '--user', `${APP.name}:${APP.password}`,
      '--read-user', `${cluster.users.reader.name}:${cluster.users.reader.password}`,
      '--write-user', `${cluster.users.writer.name}:${cluster.users.writer.password}`,
    ]);
    for (let i = 0; i < 3; i++) {
      expect(await ok(solo.port, `SELECT name, ${userOf(marker('solo'))} FROM gatehouse_meta.node`)).toBe('writer\tgh_reader\n');
    }
    expect(await ok(solo.port, "SHOW TABLES FROM rt LIKE 'only_%'")).toBe('only_writer\n');
  });
});

describe('authentication', () => {
  test('wrong password: Exception 516, then the proxy closes the connection', async () => {
    const { packet, closed } = await rawHello(gh.port, APP.name, 'wrong');
    expect(packet?.code).toBe(ServerCode.Exception);
    expect((packet as ServerException).exceptions[0].code).toBe(516);
    expect(closed).toBe(true);
    expect(await codeOf(gh.port, 'SELECT 1', { as: { name: APP.name, password: 'wrong' } })).toBe(516);
    // The right password works on the same proxy.
    expect(await ok(gh.port, 'SELECT 1')).toBe('1\n');
  });

  test('unknown user: Exception 516 (not the backend user: the backend identities are the proxy\'s)', async () => {
    const { packet, closed } = await rawHello(gh.port, 'nobody', '');
    expect((packet as ServerException).exceptions[0].code).toBe(516);
    expect(closed).toBe(true);
    // A backend account is not a proxy user either.
    expect(await codeOf(gh.port, 'SELECT 1', { as: cluster.users.writer })).toBe(516);
  });

  test('a readonly proxy user can SELECT, but INSERT and CREATE give 164', async () => {
    expect(rows(await ok(gh.port, 'SELECT name FROM gatehouse_meta.node', { as: VIEWER }))[0]).toMatch(/^reader[12]$/);
    const count = async () => Number((await direct(cluster.writer, 'SELECT count() FROM rt.ro_target')).trim());
    const before = await count();
    expect(await codeOf(gh.port, 'INSERT INTO rt.ro_target VALUES (1)', { as: VIEWER })).toBe(164);
    expect(await codeOf(gh.port, 'INSERT INTO rt.ro_target SELECT 1', { as: VIEWER })).toBe(164);
    expect(await codeOf(gh.port, 'CREATE TABLE rt.ro_created (x UInt8) ENGINE = Memory', { as: VIEWER })).toBe(164);
    expect(await count()).toBe(before);
    expect((await direct(cluster.writer, "EXISTS TABLE rt.ro_created")).trim()).toBe('0');
    // The same statement as the read-write proxy user succeeds.
    await ok(gh.port, 'INSERT INTO rt.ro_target SELECT 1');
    expect(await count()).toBe(before + 1);
  });

  test('a readonly proxy user stays read-only in a pinned session (temporary table, pool.mode: session)', async () => {
    const count = async () => Number((await direct(cluster.writer, 'SELECT count() FROM rt.ro_target')).trim());
    const before = await count();
    // Pinning statements and a session-mode proxy must not bypass the readonly check. Every outcome is collected
    // first, so a failure shows all of them.
    const cfg = writeConfig('session-ro.yaml', identitiesYaml(cluster.readers, 'pool: { mode: session, min_idle: 0 }'));
    const sess = await startExtra(['--config', cfg]);
    const pinnedThenInsert = await client(gh.port, 'CREATE TEMPORARY TABLE ro_tmp2 (x UInt8); INSERT INTO rt.ro_target SELECT 7', { as: VIEWER, args: ['--multiquery'] });
    const outcome = {
      createTemporary: await codeOf(gh.port, 'CREATE TEMPORARY TABLE ro_tmp (x UInt8)', { as: VIEWER }),
      insertAfterTemporary: errorCodeOf(pinnedThenInsert.stderr),
      sessionModeSelectRows: rows(await ok(sess.port, 'SELECT name FROM gatehouse_meta.node', { as: VIEWER })).length,
      sessionModeInsert: await codeOf(sess.port, 'INSERT INTO rt.ro_target SELECT 8', { as: VIEWER }),
      sessionModeCreate: await codeOf(sess.port, 'CREATE TABLE rt.ro_created2 (x UInt8) ENGINE = Memory', { as: VIEWER }),
      rowsWritten: (await count()) - before,
      tableCreated: (await direct(cluster.writer, 'EXISTS TABLE rt.ro_created2')).trim(),
    };
    expect(outcome).toEqual({
      createTemporary: 164,
      insertAfterTemporary: 164,
      sessionModeSelectRows: 1,
      sessionModeInsert: 164,
      sessionModeCreate: 164,
      rowsWritten: 0,
      tableCreated: '0',
    });
  });

  test('pass-through (no identities): the client\'s own credentials reach the backends', async () => {
    const pass = await startExtra(['--writer', hostPort(cluster.writer), ...cluster.readers.flatMap((r) => ['--reader', hostPort(r)])]);
    // default (no password) works, and reads still go to the readers.
    expect(rows(await ok(pass.port, 'SELECT name FROM gatehouse_meta.node', { as: null }))[0]).toMatch(/^reader[12]$/);
    // The backend runs the query as the client's user.
    for (const u of [cluster.users.reader, cluster.users.writer]) {
      expect(await ok(pass.port, `SELECT ${userOf(marker('pass'))}`, { as: u })).toBe(`${u.name}\n`);
    }
    // gh_reader is readonly on the backends: its INSERT is refused by the writer itself (164).
    await direct(cluster.writer, 'CREATE TABLE rt.pass_target (x UInt8) ENGINE = Memory');
    expect(await codeOf(pass.port, 'INSERT INTO rt.pass_target SELECT 2', { as: cluster.users.reader })).toBe(164);
    await ok(pass.port, 'INSERT INTO rt.pass_target SELECT 3', { as: cluster.users.writer });
    expect(await direct(cluster.writer, 'SELECT x FROM rt.pass_target')).toBe('3\n');
    // Wrong password and unknown user: the backend's own codes, as on a direct connection (193, 192).
    const wrong = { name: cluster.users.writer.name, password: 'wrong' };
    const nobody = { name: 'nobody', password: '' };
    const directWrong = await codeOf(cluster.writer.tcpPort, 'SELECT 1', { as: wrong });
    const directNobody = await codeOf(cluster.writer.tcpPort, 'SELECT 1', { as: nobody });
    expect([directWrong, directNobody]).toEqual([193, 192]);
    expect(await codeOf(pass.port, 'SELECT 1', { as: wrong })).toBe(directWrong);
    expect(await codeOf(pass.port, 'SELECT 1', { as: nobody })).toBe(directNobody);
  });
});

describe('session state behaves as on a direct connection', () => {
  /** The same --multiquery script directly on the writer (as gh_writer) and through the proxy (as app). */
  async function both(script: string): Promise<{ direct: RunResult; proxied: RunResult }> {
    const [d, p] = await Promise.all([
      client(cluster.writer.tcpPort, script, { as: cluster.users.writer, args: ['--multiquery'] }),
      client(gh.port, script, { args: ['--multiquery'] }),
    ]);
    return { direct: d, proxied: p };
  }

  test('USE db, then unqualified names; USE of a missing database gives 81 as direct', async () => {
    const { direct: d, proxied: p } = await both('USE gatehouse_meta; SELECT count() FROM node; SHOW TABLES');
    expect(p.stderr).toBe('');
    expect(p.stdout).toBe(d.stdout);
    expect(p.stdout).toBe('1\nnode\n');
    const missing = await both('USE no_such_db');
    expect(errorCodeOf(missing.direct.stderr)).toBe(81);
    expect(errorCodeOf(missing.proxied.stderr)).toBe(81);
    // The database is replayed on pooled connections to both readers; a failed USE keeps the old one.
    const got = await python<{ names: string[]; missing: number | null }>(`${PY_PRELUDE}
c = client(${gh.port}, '${APP.name}', '${APP.password}')
c.execute('USE gatehouse_meta')
names = [c.execute('SELECT name FROM node')[0][0] for _ in range(4)]
missing = err(lambda: c.execute('USE no_such_db'))
names += [c.execute('SELECT name FROM node')[0][0] for _ in range(2)]
print(json.dumps({'names': names, 'missing': missing}))
`);
    expect(got.missing).toBe(81);
    expect(got.names).toHaveLength(6);
    expect(new Set(got.names)).toEqual(new Set(['reader1', 'reader2']));
  });

  test('SET max_block_size shows in system.settings and block sizes; a query\'s SETTINGS override it', async () => {
    const script = [
      'SET max_block_size = 7',
      "SELECT value FROM system.settings WHERE name = 'max_block_size'",
      'SELECT groupArray(blockSize()) FROM numbers(20)',
      "SELECT value FROM system.settings WHERE name = 'max_block_size' SETTINGS max_block_size = 9",
      'SELECT groupArray(blockSize()) FROM numbers(20) SETTINGS max_block_size = 5',
      "SELECT value FROM system.settings WHERE name = 'max_block_size'",
    ].join(';\n');
    const { direct: d, proxied: p } = await both(script);
    expect(p.stderr).toBe('');
    expect(p.stdout).toBe(d.stdout);
    const sevens = Array(14).fill(7).concat(Array(6).fill(6));
    const fives = Array(20).fill(5);
    expect(rows(p.stdout)).toEqual(['7', `[${sevens.join(',')}]`, '9', `[${fives.join(',')}]`, '7']);
    // Replayed on every pooled connection, whichever reader answers.
    const got = await python<string[][]>(`${PY_PRELUDE}
c = client(${gh.port}, '${APP.name}', '${APP.password}')
c.execute('SET max_block_size = 11')
print(json.dumps([list(c.execute("SELECT name, (SELECT value FROM system.settings WHERE name = 'max_block_size') FROM gatehouse_meta.node")[0]) for _ in range(4)]))
`);
    expect(got.map((r) => r[1])).toEqual(['11', '11', '11', '11']);
    expect(new Set(got.map((r) => r[0]))).toEqual(new Set(['reader1', 'reader2']));
  });

  test('SET of an unknown setting gives the same code as direct (115)', async () => {
    const { direct: d, proxied: p } = await both('SET no_such_setting = 1');
    expect(errorCodeOf(d.stderr)).toBe(115);
    expect(errorCodeOf(p.stderr)).toBe(115);
    // A failed SET changes nothing: the session still works.
    const { proxied } = await both("SET no_such_setting = 1; SELECT 1");
    expect(errorCodeOf(proxied.stderr)).toBe(115);
  });

  test('temporary tables work in one session and are invisible to another', async () => {
    const script = 'CREATE TEMPORARY TABLE tt (n UInt64); INSERT INTO tt SELECT number FROM numbers(10); SELECT count(), sum(n) FROM tt; SELECT count() FROM tt WHERE n > 4';
    const { direct: d, proxied: p } = await both(script);
    expect(p.stderr).toBe('');
    expect(p.stdout).toBe(d.stdout);
    expect(p.stdout).toBe('10\t45\n5\n');
    const [dOther, pOther] = await Promise.all([
      codeOf(cluster.writer.tcpPort, 'SELECT count() FROM tt', { as: cluster.users.writer }),
      codeOf(gh.port, 'SELECT count() FROM tt'),
    ]);
    expect(dOther).toBe(60); // UNKNOWN_TABLE
    expect(pOther).toBe(dOther);
  });

  test('pool.mode: session gives each client its own backend connection, kept across its queries', async () => {
    const cfg = writeConfig('session.yaml', identitiesYaml(cluster.readers, 'pool: { mode: session, min_idle: 0 }'));
    const sess = await startExtra(['--config', cfg]);
    const cfgQ = writeConfig('query.yaml', identitiesYaml(cluster.readers, 'pool: { mode: query, min_idle: 0 }'));
    const qmode = await startExtra(['--config', cfgQ]);
    const tcpConns = async () => Number((await direct(cluster.writer, "SELECT value FROM system.metrics WHERE metric = 'TCPConnection'")).trim());
    // Five clients open at once; each runs three queries one after another (the others idle in between) and reports
    // the backend connection (server-side client port) that ran each query.
    const script = (port: number) => `${PY_PRELUDE}
import uuid, urllib.request
def conns():
    body = b"SELECT value FROM system.metrics WHERE metric = 'TCPConnection'"
    return int(urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:${cluster.writer.httpPort}/', data=body)).read())
def port_of(c):
    mk = 'mk-port-' + uuid.uuid4().hex
    return c.execute("SELECT (SELECT any(port) FROM system.processes WHERE query LIKE '%%%s%%'), (SELECT any(user) FROM system.processes WHERE query LIKE '%%%s%%')" % (mk, mk))[0]
cs = [client(${port}, '${APP.name}', '${APP.password}') for _ in range(5)]
ports = [[], [], [], [], []]
for rnd in range(3):
    for i, c in enumerate(cs):
        ports[i].append(list(port_of(c)))
held = conns()
for c in cs:
    c.disconnect()
print(json.dumps({'ports': ports, 'held': held}))
`;
    const before = await tcpConns();
    const s = await python<{ ports: [number, string][][]; held: number }>(script(sess.port));
    // Session mode: the same backend connection for all of a client's queries, a different one per client, all on
    // the writer (one connection, whatever the statement), as the write identity.
    for (const perClient of s.ports) {
      expect(new Set(perClient.map(([p]) => p)).size).toBe(1);
      expect(perClient.every(([, u]) => u === 'gh_writer')).toBe(true);
    }
    expect(new Set(s.ports.map((c) => c[0][0])).size).toBe(5);
    expect(s.held).toBeGreaterThanOrEqual(before + 5);
    // Query mode, for contrast: the clients' queries share pooled connections on the readers.
    const q = await python<{ ports: [number, string][][]; held: number }>(script(qmode.port));
    expect(new Set(q.ports.flat().map(([p]) => p)).size).toBeLessThan(5);
    expect(q.ports.flat().every(([, u]) => u === 'gh_reader')).toBe(true);
    // A session's connection is never returned to a pool: once its clients left, the writer's count drops back.
    const deadline = Date.now() + 5_000;
    while ((await tcpConns()) > before + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // + 1: the writer pool's warm minimum (pool.min_idle 1), opened in the background when the first client pinned
    // and kept idle; the pinned connections themselves are closed.
    expect(await tcpConns()).toBeLessThanOrEqual(before + 1);
  });
});
