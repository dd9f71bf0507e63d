/**
 * The receive and idle timeouts of issue 8, through `gatehouse serve` in front of the real sandbox cluster (ClickHouse
 * 18.16): pool.receive_timeout_ms (a backend that stops answering mid-query: SIGSTOP, or a query that sends nothing
 * for longer than the limit) and connections.idle_timeout_ms / connections.receive_timeout_ms (a logged-in client
 * that stays idle, or stops half-way through a packet). Limits are set to about a second or two; the machine is
 * shared, so the assertions bound times loosely and never assert speed.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeFramedBlock, encodeSimpleQuery } from '../../src/pool';
import {
  ClientCode,
  encodeBlock,
  encodeBlockPacket,
  PROXY_MAX_REVISION,
  ServerCode,
  Writer,
  type FramedPacket,
  type ServerException,
} from '../../src/protocol';
import { errorCodeOf, httpQuery, runClient, startSandboxCluster, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { NativeClient } from '../helpers/native-client';
import { sampleValue, until } from '../helpers/poll';

/** pool.receive_timeout_ms of proxy A. */
const BACKEND_RECEIVE_MS = 1_500;
/** connections.idle_timeout_ms and connections.receive_timeout_ms of proxy B. */
const IDLE_MS = 2_500;
const CLIENT_RECEIVE_MS = 1_500;
/** What a loaded 2-core machine may add to a timer before the client sees its effect. */
const SLACK_MS = 5_000;

let cluster: SandboxCluster;
let tmpDir: string;
/** Backend receive timeout (client timeouts left at their defaults). */
let a: Gatehouse;
/** Client idle and receive timeouts (backend receive timeout left at its default). */
let b: Gatehouse;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ONE_ROW_BLOCKS = [{ name: 'max_block_size', value: '1', flags: 0 }];

async function startProxy(name: string, yaml: string[]): Promise<Gatehouse> {
  const file = path.join(tmpDir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      `writer: "127.0.0.1:${cluster.writer.tcpPort}"`,
      `readers: ["127.0.0.1:${cluster.readers[0]!.tcpPort}"]`,
      'admin: "127.0.0.1:0"',
      ...yaml,
    ].join('\n'),
  );
  return startGatehouse(['--config', file]);
}

async function open(g: Gatehouse): Promise<NativeClient> {
  const c = await NativeClient.open(g.port);
  c.hello(PROXY_MAX_REVISION);
  expect((await c.next())?.code).toBe(ServerCode.Hello);
  c.addendumIfNeeded();
  return c;
}

async function busyConnections(g: Gatehouse): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${g.adminPort}/status`);
  const status = (await res.json()) as { pools: { busy: number }[] };
  return status.pools.reduce((n, p) => n + p.busy, 0);
}

const exceptionOf = (p: FramedPacket | null | undefined) =>
  p?.code === ServerCode.Exception ? (p.packet as ServerException).exceptions[0]! : null;

/** Reads to EndOfStream or Exception; `onFirstRows` runs once the first non-empty block arrived. */
async function readAll(c: NativeClient, onFirstRows?: () => void): Promise<{ rows: number; last: FramedPacket | null; values: unknown[] }> {
  let rows = 0;
  const values: unknown[] = [];
  for (;;) {
    const p = await c.next(60_000);
    if (!p || p.code === ServerCode.EndOfStream || p.code === ServerCode.Exception) return { rows, last: p, values };
    if (p.code === ServerCode.Data && p.block && p.block.rows > 0) {
      if (rows === 0) onFirstRows?.();
      rows += p.block.rows;
      values.push(...decodeFramedBlock(p, c.state.revision).columns[0]!.values);
    }
  }
}

/** Whether the proxy closed the client's socket within `ms` (null: a packet came first). */
async function closedWithin(c: NativeClient, ms: number): Promise<{ closed: boolean; packet: FramedPacket | null }> {
  const p = await c.next(ms).catch(() => undefined);
  if (p === undefined) return { closed: false, packet: null };
  return { closed: p === null, packet: p };
}

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-timeouts-'));
  cluster = await startSandboxCluster({ readers: 1 });
  [a, b] = await Promise.all([
    startProxy('a', [`pool: { receive_timeout_ms: ${BACKEND_RECEIVE_MS} }`]),
    startProxy('b', [
      `connections: { idle_timeout_ms: ${IDLE_MS}, receive_timeout_ms: ${CLIENT_RECEIVE_MS} }`,
      `http: { listen: "127.0.0.1:0", backend_ports: { writer: ${cluster.writer.httpPort}, reader1: ${cluster.readers[0]!.httpPort} } }`,
      'log_level: info',
    ]),
  ]);
}, 120_000);

afterAll(async () => {
  // A failed test must not leave a node stopped for the others (or for the teardown).
  for (const n of [cluster?.writer, ...(cluster?.readers ?? [])]) if (n) process.kill(n.pid, 'SIGCONT');
  await Promise.all([a?.stop(), b?.stop()]);
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('pool.receive_timeout_ms: a backend that stops answering', () => {
  it('clickhouse-client: a query that sends nothing for longer than the limit gets 209 naming Gatehouse, the backend and the setting', async () => {
    // 18.16 sends the header and one Progress at once, then nothing until sleep(3) returns.
    const t0 = Date.now();
    const r = await runClient(a.port, ['--query', 'SELECT sleep(3)'], '', 30_000);
    const ms = Date.now() - t0;
    expect(r.code).not.toBe(0);
    expect(errorCodeOf(r.stderr)).toBe(209);
    expect(r.stderr).toContain(`Gatehouse: reader1 (127.0.0.1:${cluster.readers[0]!.tcpPort}) as default sent nothing for ${BACKEND_RECEIVE_MS} ms`);
    expect(r.stderr).toContain('(pool.receive_timeout_ms)');
    expect(ms).toBeGreaterThanOrEqual(BACKEND_RECEIVE_MS);
    await until(async () => (await busyConnections(a)) === 0, 10_000, 'the pools to be idle');
    expect(sampleValue(await a.metrics(), 'gatehouse_query_errors_total', 'code="209"')).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('a query longer than the limit that sends Progress all along succeeds', async () => {
    const c = await open(a);
    try {
      // No rows until the end, but Progress every ~100 ms (checked on 18.16): 4 s, more than twice the limit.
      const t0 = Date.now();
      c.query('SELECT count() FROM numbers(40) WHERE sleepEachRow(0.1) = 0', ONE_ROW_BLOCKS);
      const r = await readAll(c);
      expect(r.last?.code).toBe(ServerCode.EndOfStream);
      expect(r.values).toEqual([40n]);
      expect(Date.now() - t0).toBeGreaterThan(2 * BACKEND_RECEIVE_MS);
    } finally {
      c.close();
    }
  }, 60_000);

  it('reader SIGSTOPped mid-query: 209 within the limit (+ slack); after SIGCONT the pools are idle and the same client queries on', async () => {
    const reader = cluster.readers[0]!;
    const c = await open(a);
    let stoppedAt = 0;
    try {
      c.query('SELECT number, sleepEachRow(0.1) FROM numbers(100)', ONE_ROW_BLOCKS);
      const r = await readAll(c, () => {
        process.kill(reader.pid, 'SIGSTOP');
        stoppedAt = Date.now();
      });
      const waited = Date.now() - stoppedAt;
      const e = exceptionOf(r.last);
      expect(e?.code).toBe(209);
      expect(e?.message).toContain(`Gatehouse: reader1 (127.0.0.1:${reader.tcpPort}) as default sent nothing for ${BACKEND_RECEIVE_MS} ms`);
      expect(r.rows).toBeGreaterThan(0);
      expect(r.rows).toBeLessThan(100);
      // The proxy last heard from the reader shortly before the test saw rows and stopped it.
      expect(waited).toBeGreaterThanOrEqual(BACKEND_RECEIVE_MS - 500);
      expect(waited).toBeLessThan(BACKEND_RECEIVE_MS + SLACK_MS);
    } finally {
      process.kill(reader.pid, 'SIGCONT');
    }
    // The timed-out connection was dropped, not given back: nothing stays busy.
    await until(async () => (await busyConnections(a)) === 0, 10_000, 'the pools to be idle');
    expect(c.closed).toBe(false);
    c.query('SELECT 40 + 2');
    const next = await readAll(c);
    expect(next.last?.code).toBe(ServerCode.EndOfStream);
    expect(next.values).toEqual([42]);
    c.close();
  }, 60_000);

  it('INSERT: the writer SIGSTOPped after the client\'s data, while the client waits for the answer: 209', async () => {
    const writer = cluster.writer;
    const c = await open(a);
    try {
      c.query('CREATE TABLE IF NOT EXISTS default.timeouts_ins (x UInt32) ENGINE = Memory');
      expect((await readAll(c)).last?.code).toBe(ServerCode.EndOfStream);
      c.query('INSERT INTO default.timeouts_ins (x) VALUES');
      let header: FramedPacket | null;
      do header = await c.next(30_000);
      while (header && header.code !== ServerCode.Data && header.code !== ServerCode.Exception);
      expect(header?.code).toBe(ServerCode.Data);
      process.kill(writer.pid, 'SIGSTOP');
      const rev = c.state.revision;
      const packet = (columns: { name: string; type: string; values: unknown[] }[]) => {
        const block = new Writer();
        encodeBlock(block, { columns }, rev);
        const w = new Writer();
        encodeBlockPacket(w, ClientCode.Data, '', block.view(), null);
        return w.toBuffer();
      };
      // The client takes its time over the data (the server waits for it: not the server's silence)...
      await sleep(BACKEND_RECEIVE_MS + 500);
      c.send(packet([{ name: 'x', type: 'UInt32', values: [1, 2, 3] }]));
      // ...then ends it; from here the server owes the answer.
      const sent = Date.now();
      c.send(packet([]));
      const r = await readAll(c);
      const waited = Date.now() - sent;
      expect(exceptionOf(r.last)?.code).toBe(209);
      expect(exceptionOf(r.last)?.message).toContain(`writer (127.0.0.1:${writer.tcpPort}) as default sent nothing`);
      expect(waited).toBeGreaterThanOrEqual(BACKEND_RECEIVE_MS - 50);
      expect(waited).toBeLessThan(BACKEND_RECEIVE_MS + SLACK_MS);
    } finally {
      process.kill(writer.pid, 'SIGCONT');
      c.close();
    }
    await until(async () => (await busyConnections(a)) === 0, 10_000, 'the pools to be idle');
  }, 60_000);

  it('a client pinned to its backend connection (temporary table) gets 209, then its connection is closed', async () => {
    const c = await open(a);
    try {
      c.query('CREATE TEMPORARY TABLE timeouts_tmp (x UInt8)');
      expect((await readAll(c)).last?.code).toBe(ServerCode.EndOfStream);
      c.query('SELECT sleep(3)');
      const r = await readAll(c);
      expect(exceptionOf(r.last)?.code).toBe(209);
      // The session's state lived on that connection: the proxy ends the session, without a second Exception.
      expect(await closedWithin(c, 10_000)).toEqual({ closed: true, packet: null });
    } finally {
      c.close();
    }
    await until(async () => (await busyConnections(a)) === 0, 10_000, 'the pools to be idle');
  }, 60_000);
});

describe('connections.idle_timeout_ms and connections.receive_timeout_ms', () => {
  it('a logged-in client that sends nothing is closed silently after idle_timeout_ms', async () => {
    const c = await open(b);
    const t0 = Date.now();
    const r = await closedWithin(c, IDLE_MS + SLACK_MS);
    const ms = Date.now() - t0;
    expect(r).toEqual({ closed: true, packet: null });
    expect(ms).toBeGreaterThanOrEqual(IDLE_MS - 50);
    // The log line may reach the test's pipe after the close reached the client.
    await until(() => b.output().includes('closing an idle client'), 5_000, 'the log line');
  }, 30_000);

  it('a client idle for less than the limit each time, or silent during a query longer than it, stays usable', async () => {
    const c = await open(b);
    try {
      for (let i = 0; i < 3; i++) {
        await sleep(IDLE_MS * 0.6);
        c.query('SELECT 40 + 2');
        expect((await readAll(c)).values).toEqual([42]);
      }
      // The query runs longer than the idle limit; the client is silent meanwhile.
      c.query('SELECT sleep(3)');
      expect((await readAll(c)).last?.code).toBe(ServerCode.EndOfStream);
      // The idle clock starts at the query's end, not at the client's last byte.
      c.query('SELECT 40 + 2');
      expect((await readAll(c)).values).toEqual([42]);
      expect(c.closed).toBe(false);
    } finally {
      c.close();
    }
  }, 60_000);

  it('half a packet, then nothing: Exception 209 naming the setting, then closed', async () => {
    const c = await open(b);
    try {
      // The first bytes of a real Query packet (code, query id, part of the client info), then silence.
      const query = encodeSimpleQuery('SELECT 1', c.state.revision, [], 'half-packet');
      const t0 = Date.now();
      c.send(query.subarray(0, 20));
      const p = await c.next(CLIENT_RECEIVE_MS + SLACK_MS);
      const ms = Date.now() - t0;
      const e = exceptionOf(p);
      expect(e?.code).toBe(209);
      expect(e?.message).toContain(`Gatehouse: the client sent part of a packet, then nothing for ${CLIENT_RECEIVE_MS} ms (connections.receive_timeout_ms)`);
      expect(ms).toBeGreaterThanOrEqual(CLIENT_RECEIVE_MS - 50);
      expect(await closedWithin(c, 10_000)).toEqual({ closed: true, packet: null });
    } finally {
      c.close();
    }
  }, 30_000);

  it('HTTP: a request body that stops half-way is closed after receive_timeout_ms; nothing is inserted or left running', async () => {
    await httpQuery(cluster.writer.httpPort, 'CREATE TABLE IF NOT EXISTS default.rt (x UInt32, s String) ENGINE = Memory');
    const stalled = async (head: string, body: string): Promise<number> => {
      const s = net.connect(b.httpPort!, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      const t0 = Date.now();
      s.write(`${head}\r\nHost: gatehouse\r\n\r\n${body}`);
      s.resume();
      await new Promise((r) => s.once('close', r));
      return Date.now() - t0;
    };
    // An INSERT whose rows already stream to the writer, and a statement still being read for its head.
    const insert = 'INSERT INTO default.rt FORMAT TSV\n1\tone\n2\ttwo\n';
    const times = await Promise.all([
      stalled(`POST / HTTP/1.1\r\nContent-Length: ${insert.length + 1000}`, insert),
      stalled('POST / HTTP/1.1\r\nContent-Length: 1000', 'SELECT count() FROM syst'),
    ]);
    for (const ms of times) {
      expect(ms).toBeGreaterThanOrEqual(CLIENT_RECEIVE_MS - 50);
      expect(ms).toBeLessThan(CLIENT_RECEIVE_MS + SLACK_MS);
    }
    // The log line may reach this process a moment after the close.
    await until(async () => b.output().includes('closing a client that stopped in the middle of its request body'), 5_000, 'the log line');
    await new Promise((r) => setTimeout(r, 500));
    expect((await httpQuery(cluster.writer.httpPort, 'SELECT count() FROM default.rt')).trim()).toBe('0');
    expect((await httpQuery(cluster.writer.httpPort, "SELECT count() FROM system.processes WHERE query LIKE '%default.rt%' AND query NOT LIKE '%processes%'")).trim()).toBe('0');
  }, 30_000);

  it('HTTP: a query silent for longer than the limit, sent without a body or with its body already read, is not cut', async () => {
    // The limit is about bodies; a query may send nothing for minutes (sleep(2) sends nothing for 2 s here).
    const get = await fetch(`http://127.0.0.1:${b.httpPort}/?query=${encodeURIComponent('SELECT sleep(2)')}`);
    expect([get.status, await get.text()]).toEqual([200, '0\n']);
    const post = await fetch(`http://127.0.0.1:${b.httpPort}/`, { method: 'POST', body: 'SELECT sleep(2)' });
    expect([post.status, await post.text()]).toEqual([200, '0\n']);
  }, 30_000);

  it('HTTP: a body that comes slowly but steadily (a chunk every 500 ms for 4 s) is not cut', async () => {
    await httpQuery(cluster.writer.httpPort, 'CREATE TABLE IF NOT EXISTS default.rt2 (x UInt32) ENGINE = Memory');
    const s = net.connect(b.httpPort!, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const chunk = (text: string): string => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    s.write('POST /?query=INSERT%20INTO%20default.rt2%20FORMAT%20TSV HTTP/1.1\r\nHost: gatehouse\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let i = 0; i < 8; i++) {
      s.write(chunk(`${i}\n`));
      await new Promise((r) => setTimeout(r, 500));
    }
    s.write('0\r\n\r\n');
    await until(async () => answer.includes('\r\n\r\n'), 10_000, 'the answer');
    s.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect((await httpQuery(cluster.writer.httpPort, 'SELECT count(), sum(x) FROM default.rt2')).trim()).toBe('8\t28');
  }, 30_000);

  it('the proxy still serves new clients, and no backend connection is left busy', async () => {
    const r = await runClient(b.port, ['--query', 'SELECT 40 + 2'], '', 30_000);
    expect(r.stdout.trim()).toBe('42');
    await until(async () => (await busyConnections(b)) === 0, 10_000, 'the pools to be idle');
  }, 30_000);
});
