/**
 * Issue 7, http.kill_on_client_close: a query that sends nothing for a long time (a big aggregation, no progress
 * headers) keeps running on ClickHouse 18.16 after its HTTP client went away, because 18.16's HTTPHandler notices a
 * closed connection only when it writes. The proxy then sends KILL QUERY to the backend that ran it, as the account
 * it ran as, with the client's query_id or one the proxy chose (returned in X-ClickHouse-Query-Id). Checked here
 * against a real sandbox node: the query leaves system.processes soon after the client aborts (reads and writes,
 * proxy users and pass-through), the pool serves the next query, a query that completes is never killed, and
 * with the switch off the query is still running seconds later (what the kill is for).
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { httpQuery, SANDBOX_USERS, startClickHouse, type ClickHouseServer } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { until } from '../helpers/poll';

const APP = { name: 'app', password: 'app_pw' } as const;
const LIMITED = { name: 'limited', password: 'limited_pw' } as const;
const { reader: READER, writer: WRITER } = SANDBOX_USERS;
/** Runs for minutes (1e11 rows) and sends nothing until its one-row result. */
const SILENT_ROWS = 'numbers(100000000000)';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let ch: ClickHouseServer;
let tmpDir: string;
/** Proxy users with backend identities, kill on (the default). */
let gh: Gatehouse;
/** Pass-through (clients' own accounts), kill on. */
let pass: Gatehouse;
/** Pass-through, kill_on_client_close: false. */
let noKill: Gatehouse;

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const basic = (u: { name: string; password: string }) => `Basic ${Buffer.from(`${u.name}:${u.password}`).toString('base64')}`;
const marker = () => `mk_${randomUUID().slice(0, 8)}`;

async function proxy(file: string, cfg: Record<string, unknown>): Promise<Gatehouse> {
  const p = path.join(tmpDir, file);
  fs.writeFileSync(p, JSON.stringify({ writer: `127.0.0.1:${ch.tcpPort}`, lifecycle: { workers: 1 }, ...cfg }, null, 2));
  const g = await startGatehouse(['--config', p]);
  expect(g.httpPort).not.toBeNull();
  return g;
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-http-kill-'));
  ch = await startClickHouse({ name: 'http_kill', users: [{ ...READER, readonly: true }, { ...WRITER }] });
  await httpQuery(ch.httpPort, 'CREATE TABLE default.sums (s UInt64) ENGINE = Memory');
  await httpQuery(ch.httpPort, 'CREATE TABLE default.kept (id UInt32) ENGINE = Memory');
  const http = { listen: '127.0.0.1:0', backend_port: ch.httpPort };
  [gh, pass, noKill] = await Promise.all([
    proxy('users.yaml', {
      readers: [`127.0.0.1:${ch.tcpPort}`],
      users: [
        { name: APP.name, password_sha256_hex: sha(APP.password) },
        { name: LIMITED.name, password_sha256_hex: sha(LIMITED.password), query_timeout_ms: 1500 },
      ],
      read_user: { name: READER.name, password: READER.password },
      write_user: { name: WRITER.name, password: WRITER.password },
      http,
    }),
    proxy('pass.yaml', { http }),
    proxy('no-kill.yaml', { http: { ...http, kill_on_client_close: false } }),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all([gh?.stop(), pass?.stop(), noKill?.stop()]);
  await ch?.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

interface Running {
  queryId: string;
  user: string;
}

/** The query carrying `mk` in system.processes (not the lookup itself), or null. */
async function findRunning(mk: string): Promise<Running | null> {
  const out = await httpQuery(ch.httpPort, `SELECT query_id, user FROM system.processes WHERE query LIKE '%${mk}%' AND query NOT LIKE '%system.processes%'`);
  const line = out.split('\n')[0];
  if (!line) return null;
  const [queryId, user] = line.split('\t');
  return { queryId: queryId!, user: user! };
}

async function isRunning(queryId: string): Promise<boolean> {
  return (await httpQuery(ch.httpPort, `SELECT count() FROM system.processes WHERE query_id = '${queryId}'`)).trim() !== '0';
}

/**
 * Sends `sql` in a POST to `g`'s HTTP port, waits until the backend runs it (and at least 0.5 s), then aborts the
 * client. Resolves with the running query as system.processes showed it; `response` settles when the client's
 * request ends (it never gets an answer).
 */
async function startAndAbort(g: Gatehouse, sql: string, mk: string, o: { auth: string; query?: string }): Promise<Running> {
  const started = Date.now();
  const req = http.request({
    host: '127.0.0.1', port: g.httpPort!, method: 'POST', path: `/${o.query ?? ''}`, agent: false,
    headers: { Authorization: o.auth },
  });
  let answered = false;
  req.on('response', () => (answered = true));
  req.on('error', () => undefined); // the abort below
  req.end(sql);
  let running: Running | null = null;
  await until(async () => (running = await findRunning(mk)) !== null, 20_000, `${mk} to run on the backend`);
  await new Promise((r) => setTimeout(r, Math.max(0, 500 - (Date.now() - started))));
  expect(answered).toBe(false); // silent: no headers, no byte yet
  req.destroy();
  return running!;
}

/** The proxy's log lines (pino JSON) about kills, since `from` characters of its output. */
function killLines(g: Gatehouse, from = 0): Record<string, unknown>[] {
  return g
    .output()
    .slice(from)
    .split('\n')
    .filter((l) => l.includes('KILL QUERY'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request read to its end. */
function request(g: Gatehouse, sql: string, o: { auth: string; query?: string; method?: 'GET' | 'POST'; agent?: http.Agent | false }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = o.method === 'GET' ? `/?query=${encodeURIComponent(sql)}${o.query ? `&${o.query.replace(/^\?/, '')}` : ''}` : `/${o.query ?? ''}`;
    const req = http.request(
      { host: '127.0.0.1', port: g.httpPort!, method: o.method ?? 'POST', path: target, agent: o.agent ?? false, headers: { Authorization: o.auth } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.method === 'GET' ? undefined : sql);
  });
}

describe('KILL QUERY when the HTTP client leaves a silent query', () => {
  test('a read without query_id: killed on the backend as the read identity; the pool serves the next query', async () => {
    const mk = marker();
    const from = gh.output().length;
    const ran = await startAndAbort(gh, `SELECT sum(number) AS ${mk} FROM ${SILENT_ROWS}`, mk, { auth: basic(APP) });
    // The proxy gave it an id of its own, and it ran as the read identity.
    expect(ran.queryId).toMatch(UUID);
    expect(ran.user).toBe(READER.name);
    await until(async () => !(await isRunning(ran.queryId)), 15_000, `query ${ran.queryId} to be killed`, 200);
    await until(() => killLines(gh, from).length > 0, 10_000, 'the kill to be logged');
    expect(killLines(gh, from)).toEqual([
      expect.objectContaining({ level: 30, backend: 'reader1', query_id: ran.queryId, cause: 'client_gone', status: 'waiting' }),
    ]);
    const next = await request(gh, 'SELECT 1', { auth: basic(APP) });
    expect(next).toMatchObject({ status: 200, body: '1\n' });
  });

  test('a write with the client\'s query_id: killed as the write identity, nothing inserted', async () => {
    const mk = marker();
    const queryId = `client_${mk}`;
    const ran = await startAndAbort(gh, `INSERT INTO default.sums SELECT sum(number) AS ${mk} FROM ${SILENT_ROWS}`, mk, {
      auth: basic(APP),
      query: `?query_id=${queryId}`,
    });
    expect(ran).toEqual({ queryId, user: WRITER.name });
    await until(async () => !(await isRunning(queryId)), 15_000, `query ${queryId} to be killed`, 200);
    expect(await httpQuery(ch.httpPort, 'SELECT count() FROM default.sums')).toBe('0\n');
  });

  test('pass-through: the kill goes as the client\'s own account (a readonly=2 user kills its own query)', async () => {
    const mk = marker();
    const from = pass.output().length;
    const ran = await startAndAbort(pass, `SELECT sum(number) AS ${mk} FROM ${SILENT_ROWS}`, mk, { auth: basic(READER) });
    expect(ran.user).toBe(READER.name);
    await until(async () => !(await isRunning(ran.queryId)), 15_000, `query ${ran.queryId} to be killed`, 200);
    await until(() => killLines(pass, from).length > 0, 10_000, 'the kill to be logged');
    expect(killLines(pass, from)[0]).toMatchObject({ query_id: ran.queryId, status: 'waiting' });
    expect((await request(pass, 'SELECT 2', { auth: basic(READER) })).body).toBe('2\n');
  });

  test('query_timeout_ms: the client gets 159 and the query is killed on the backend too', async () => {
    const mk = marker();
    const from = gh.output().length;
    const answer = request(gh, `SELECT sum(number) AS ${mk} FROM ${SILENT_ROWS}`, { auth: basic(LIMITED) });
    let ran: Running | null = null;
    await until(async () => (ran = await findRunning(mk)) !== null, 20_000, `${mk} to run`);
    const res = await answer;
    expect(res.status).toBe(500);
    expect(res.headers['x-clickhouse-exception-code']).toBe('159');
    await until(async () => !(await isRunning(ran!.queryId)), 15_000, `query ${ran!.queryId} to be killed`, 200);
    await until(() => killLines(gh, from).length > 0, 10_000, 'the kill to be logged');
    expect(killLines(gh, from)[0]).toMatchObject({ query_id: ran!.queryId, cause: 'query_timeout', status: 'waiting' });
  });

  test('kill_on_client_close: false — the query runs on after the client left (what the kill prevents)', async () => {
    const mk = marker();
    const ran = await startAndAbort(noKill, `SELECT sum(number) AS ${mk} FROM ${SILENT_ROWS}`, mk, { auth: basic(READER) });
    try {
      // No id from the proxy: the server made one up.
      expect(ran.queryId).toMatch(UUID);
      await new Promise((r) => setTimeout(r, 3000));
      expect(await isRunning(ran.queryId)).toBe(true);
      expect(killLines(noKill)).toEqual([]);
    } finally {
      await httpQuery(ch.httpPort, `KILL QUERY WHERE query_id = '${ran.queryId}' SYNC`);
    }
  });
});

/**
 * A relay to 127.0.0.1:`target` that holds each client chunk containing `hold` for `holdMs` (the chunks after it on
 * that connection wait behind it, in order: one queue per connection), and still delivers what it holds after the
 * client side closed, as a network delivers bytes already sent; with `dropOnClose`, what it holds then is dropped
 * instead (bytes that never made it). Answers pass straight through.
 */
async function startHoldingRelay(
  target: number,
  hold: string,
  holdMs: number,
  opts: { dropOnClose?: boolean } = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    const queue: { due: number; data: Buffer }[] = [];
    let timer: NodeJS.Timeout | null = null;
    let closed = false;
    const flush = (): void => {
      timer = null;
      while (queue.length > 0 && queue[0]!.due <= Date.now()) {
        const { data } = queue.shift()!;
        if (!upstream.destroyed) upstream.write(data);
      }
      if (queue.length > 0) timer = setTimeout(flush, Math.max(1, queue[0]!.due - Date.now()));
      else if (closed) upstream.end();
    };
    client.on('data', (d: Buffer) => {
      queue.push({ due: d.includes(hold) ? Date.now() + holdMs : Date.now(), data: d });
      if (!timer) timer = setTimeout(flush, Math.max(0, queue[0]!.due - Date.now()));
    });
    client.on('close', () => {
      closed = true;
      if (opts.dropOnClose) queue.length = 0;
      if (queue.length === 0) upstream.end();
    });
    upstream.pipe(client);
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe('a request cut while it is still on its way to the backend', () => {
  test('the kill finds nothing at first and is sent again: the query that started after it is killed', async () => {
    const mk = marker();
    // The query's bytes take 800 ms to reach ClickHouse; the kill (another connection of the pool) goes at once.
    const relay = await startHoldingRelay(ch.httpPort, mk, 800);
    const held = await proxy('held.yaml', { http: { listen: '127.0.0.1:0', backend_port: relay.port } });
    let ran: Running | null = null;
    try {
      const from = held.output().length;
      const req = http.request({
        host: '127.0.0.1', port: held.httpPort!, method: 'POST', path: '/', agent: false, headers: { Authorization: basic(READER) },
      });
      req.on('error', () => undefined);
      req.end(`SELECT sum(number) AS ${mk} FROM ${SILENT_ROWS}`);
      await new Promise((r) => setTimeout(r, 150));
      req.destroy(); // cut while the query is held in the relay
      await until(async () => (ran = await findRunning(mk)) !== null, 10_000, `${mk} to start on the backend after the cut`);
      await until(async () => !(await isRunning(ran!.queryId)), 15_000, `query ${ran!.queryId} to be killed by a later attempt`, 200);
      await until(() => killLines(held, from).length > 0, 10_000, 'the kill to be logged');
      const [line] = killLines(held, from);
      expect(line).toMatchObject({ query_id: ran!.queryId, cause: 'client_gone', status: 'waiting' });
      expect(line!.attempts as number).toBeGreaterThanOrEqual(2); // the first attempt found nothing
    } finally {
      if (ran) await httpQuery(ch.httpPort, `KILL QUERY WHERE query_id = '${(ran as Running).queryId}' SYNC`);
      await httpQuery(ch.httpPort, `KILL QUERY WHERE query LIKE '%${mk}%' AND query NOT LIKE '%KILL%' SYNC`);
      await held.stop();
      await relay.close();
    }
  }, 60_000);

  test("a later request reusing the client's query_id is not what the kill's later attempts find", async () => {
    const mk = marker();
    const later = marker();
    // Not containing `mk`: the kill's own text (which names the id) must pass the relay unheld.
    const queryId = `reused_${marker()}`;
    // The first request's bytes never reach ClickHouse (held, then dropped when the proxy cuts the connection); the
    // client sends the same query_id again at once, and that request runs through the kill's retry window.
    const relay = await startHoldingRelay(ch.httpPort, mk, 5_000, { dropOnClose: true });
    const held = await proxy('held-drop.yaml', { http: { listen: '127.0.0.1:0', backend_port: relay.port } });
    try {
      const from = held.output().length;
      const req = http.request({
        host: '127.0.0.1', port: held.httpPort!, method: 'POST', path: `/?query_id=${queryId}`, agent: false, headers: { Authorization: basic(READER) },
      });
      req.on('error', () => undefined);
      req.end(`SELECT sum(number) AS ${mk} FROM ${SILENT_ROWS}`);
      await new Promise((r) => setTimeout(r, 150));
      req.destroy(); // cut while its bytes are held: that query never starts
      // The retry: sleep(3) spans the kill's attempts at +0.5 s and +2.5 s.
      const retry = await request(held, `SELECT sleep(3) AS ${later}`, { auth: basic(READER), query: `?query_id=${queryId}` });
      expect(retry.status).toBe(200);
      expect(retry.body).toBe('0\n');
      await until(() => killLines(held, from).length > 0, 10_000, 'the kill to be logged');
      const [line] = killLines(held, from);
      expect(line).toMatchObject({ query_id: queryId, cause: 'client_gone', status: 'not_running', attempts: 3 });
    } finally {
      await httpQuery(ch.httpPort, `KILL QUERY WHERE query LIKE '%${mk}%' AND query NOT LIKE '%KILL%' SYNC`);
      await held.stop();
      await relay.close();
    }
  }, 60_000);
});

describe('a client that leaves before its request reaches a backend', () => {
  test('closed while its compressed body head was decoded: nothing is sent, no backend connection is held', async () => {
    // One backend connection: a request left holding it would block the next one.
    const one = await proxy('one-conn.yaml', { http: { listen: '127.0.0.1:0', backend_port: ch.httpPort, backend_connections: 1 } });
    try {
      // A complete gzip body that does not decode (decoding runs off the event loop), then bytes that are no request:
      // node:http answers 400 for them and closes the connection while the body's head is still being decoded.
      const body = Buffer.concat([gzipSync('SELECT 1').subarray(0, 12), Buffer.from('not deflate data at all')]);
      const bytes = Buffer.concat([
        Buffer.from(`POST / HTTP/1.1\r\nHost: gatehouse\r\nContent-Encoding: gzip\r\nContent-Length: ${body.length}\r\n\r\n`),
        body,
        Buffer.from('\u0000\u0001 garbage\r\n\r\n'),
      ]);
      for (let i = 0; i < 3; i++) {
        const answer = await new Promise<string>((resolve) => {
          const s = net.connect(one.httpPort!, '127.0.0.1', () => s.write(bytes));
          let out = '';
          s.on('data', (d: Buffer) => (out += d.toString('latin1')));
          s.on('close', () => resolve(out));
          s.on('error', () => undefined);
        });
        expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      }
      // A table of its own: the tests below count default.kept.
      await httpQuery(ch.httpPort, 'CREATE TABLE IF NOT EXISTS default.after_left (id UInt32) ENGINE = Memory');
      const next = await request(one, 'INSERT INTO default.after_left VALUES (9)', { auth: basic(WRITER) });
      expect(next.status).toBe(200);
      expect((await httpQuery(ch.httpPort, 'SELECT count() FROM default.after_left')).trim()).toBe('1');
    } finally {
      await one.stop();
    }
  }, 30_000);
});

describe('queries that complete are never killed', () => {
  test('reads, writes, errors, GET and keep-alive: answered in full, no KILL QUERY; X-ClickHouse-Query-Id as run', async () => {
    const from = gh.output().length;
    // The id the query ran with, as the query itself sees it in system.processes.
    const selfId = (mk: string) => `SELECT (SELECT any(query_id) FROM system.processes WHERE query LIKE '%${mk}%') AS ${mk}`;
    const mk1 = marker();
    const own = await request(gh, selfId(mk1), { auth: basic(APP) });
    expect(own.status).toBe(200);
    expect(own.headers['x-clickhouse-query-id']).toMatch(UUID);
    expect(own.body).toBe(`${own.headers['x-clickhouse-query-id']}\n`);
    const mk2 = marker();
    const given = await request(gh, selfId(mk2), { auth: basic(APP), query: `?query_id=given_${mk2}` });
    expect(given.headers['x-clickhouse-query-id']).toBe(`given_${mk2}`);
    expect(given.body).toBe(`given_${mk2}\n`);
    // A short aggregation (silent until its end), an insert, a backend error, a GET, a large streamed result.
    expect((await request(gh, 'SELECT sum(number) FROM numbers(20000000)', { auth: basic(APP) })).body).toBe('199999990000000\n');
    expect((await request(gh, '1\n2\n3\n', { auth: basic(APP), query: `?query=${encodeURIComponent('INSERT INTO default.kept FORMAT TSV')}` })).status).toBe(200);
    const error = await request(gh, 'SELECT * FROM default.no_such_table', { auth: basic(APP) });
    expect(error.status).toBe(404);
    expect(error.headers['x-clickhouse-query-id']).toMatch(UUID);
    expect((await request(gh, 'SELECT 3', { auth: basic(APP), method: 'GET' })).body).toBe('3\n');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const big = await request(gh, 'SELECT number, toString(number) FROM numbers(300000)', { auth: basic(APP), agent });
        expect(big.body.length).toBeGreaterThan(3_000_000);
      }
    } finally {
      agent.destroy();
    }
    // Kills are sent at once when they happen; give a stray one time to show up in the log.
    await new Promise((r) => setTimeout(r, 1000));
    expect(killLines(gh, from)).toEqual([]);
    expect(await httpQuery(ch.httpPort, 'SELECT count() FROM default.kept')).toBe('3\n');
  });

  test('without kill_on_client_close the proxy adds no query_id (the server makes one up, 18.16 returns none)', async () => {
    const res = await request(noKill, 'SELECT 1', { auth: basic(READER) });
    expect(res.status).toBe(200);
    expect(res.headers['x-clickhouse-query-id']).toBeUndefined();
  });
});
