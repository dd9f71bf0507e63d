/**
 * Streaming through the proxy (issue 3, architecture.md "Streaming and memory") against the real sandbox cluster and a
 * `gatehouse serve` process: a client that stops reading a ~2 GB result (compression off and on), clients that go away
 * mid-result and mid-INSERT (and, on a one-connection pool, that the cancelled connection is drained and reused),
 * Cancel on a pooled connection, `result_buffering: buffer`, and large compressed results through clickhouse-client. The client is a raw native-protocol socket built on src/protocol, so the test decides
 * exactly when bytes are read (socket.pause() stops reading from the kernel: the proxy's writes then back up).
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ClientCode,
  CompressionMethod,
  ConnectionState,
  Framer,
  Interface,
  QueryKind,
  ServerCode,
  Stage,
  Writer,
  encodeBlock,
  encodeBlockPacket,
  encodeClientPacket,
  type BlockInput,
  type FramedPacket,
  type ServerException,
  type ServerHello,
  type Setting,
} from '../../src/protocol';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import {
  CLICKHOUSE_CLIENT_BIN,
  httpQuery,
  runClient,
  runProcess,
  startSandboxCluster,
  type ClickHouseServer,
  type SandboxCluster,
} from '../helpers';

/** clickhouse-client 18.16's revision: no addendum, legacy binary settings (native-protocol.md §3). */
const CLIENT_REVISION = 54412;
const MiB = 1024 * 1024;
const APP = { name: 'app', password: 'app_pw' };
const BACKEND_USERS = ['gh_reader', 'gh_writer'];
/** ≈ 2.9 GB in Native: 8 bytes of UInt64 + a length byte + ~8 digits per row. */
const HUGE_SELECT = 'SELECT number, toString(number) FROM system.numbers LIMIT 200000000';
const INSERT_TABLE = 'default.stream_abort';

// ---- a raw native client ------------------------------------------------------------------

interface QueryStats {
  packets: number;
  dataPackets: number;
  rows: number;
  /** Bytes of every server packet of this query. */
  bytes: number;
  end: 'eos' | 'exception' | null;
  exception: ServerException | null;
  /** Column names/types of the first Data block (the header). */
  header: { name: string; type: string }[] | null;
  /** Packet count by server packet code (diagnostics). */
  codes: Record<number, number>;
}

function newStats(): QueryStats {
  return { packets: 0, dataPackets: 0, rows: 0, bytes: 0, end: null, exception: null, header: null, codes: {} };
}

/**
 * One native connection speaking revision 54412 with src/protocol's encoders; the server's packets are framed with
 * the codec's Framer and only counted (a 2 GB result is never held).
 */
class RawClient {
  readonly state = new ConnectionState();
  private readonly framer = new Framer('server', this.state);
  private readonly checks = new Set<() => void>();
  hello: ServerHello | null = null;
  stats: QueryStats = newStats();
  closed = false;
  error: Error | null = null;

  private constructor(readonly socket: net.Socket) {
    this.state.onClientHello(CLIENT_REVISION);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => (this.error = e));
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  static async connect(port: number, user = APP.name, password = APP.password): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new RawClient(socket);
    const w = new Writer(128);
    encodeClientPacket(
      w,
      {
        code: ClientCode.Hello,
        clientName: 'Gatehouse streaming test',
        versionMajor: 18,
        versionMinor: 16,
        revision: CLIENT_REVISION,
        database: '',
        user,
        password,
      },
      CLIENT_REVISION,
    );
    socket.write(w.toBuffer());
    await c.waitFor(() => c.hello !== null || c.stats.end === 'exception', 10_000, 'the server Hello');
    if (!c.hello) throw new Error(`handshake failed: ${JSON.stringify(c.stats.exception)}`);
    return c;
  }

  get revision(): number {
    return this.state.revision;
  }

  /** Query + the empty Data block that ends external tables (native-protocol.md §9.1). */
  sendQuery(sql: string, opts: { queryId?: string; settings?: Setting[]; compression?: boolean } = {}): void {
    const compression = opts.compression ?? false;
    const rev = this.revision;
    this.stats = newStats();
    this.state.compression = compression;
    const w = new Writer(256);
    encodeClientPacket(
      w,
      {
        code: ClientCode.Query,
        queryId: opts.queryId ?? '',
        clientInfo: {
          queryKind: QueryKind.Initial,
          initialUser: '',
          initialQueryId: '',
          initialAddress: '0.0.0.0:0',
          interface: Interface.TCP,
          tcp: {
            osUser: '',
            clientHostname: 'streaming-test',
            clientName: 'Gatehouse streaming test',
            clientVersionMajor: 18,
            clientVersionMinor: 16,
            clientTcpProtocolVersion: rev,
          },
        },
        settings: opts.settings ?? [],
        stage: Stage.Complete,
        compression,
        query: sql,
      },
      rev,
    );
    this.socket.write(w.toBuffer());
    this.sendData({ columns: [] });
  }

  /** A client Data packet (an empty block ends a data phase). */
  sendData(block: BlockInput): boolean {
    const body = new Writer(1024);
    encodeBlock(body, block, this.revision);
    const w = new Writer(body.length + 16);
    encodeBlockPacket(w, ClientCode.Data, '', body.view(), this.state.compression ? CompressionMethod.LZ4 : null);
    return this.socket.write(w.toBuffer());
  }

  sendCancel(): void {
    this.socket.write(Buffer.of(ClientCode.Cancel));
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves once `pred()` holds (checked on every chunk); rejects on timeout or when the socket closed first. */
  waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) {
          done();
          resolve();
        } else if (this.closed) {
          done();
          reject(new Error(`connection closed while waiting for ${what} (${this.describe()})`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.describe()})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.checks.delete(check);
      };
      this.checks.add(check);
      check();
    });
  }

  /** Waits for this query's EndOfStream or Exception. */
  waitEnd(timeoutMs = 60_000): Promise<void> {
    return this.waitFor(() => this.stats.end !== null, timeoutMs, 'EndOfStream or Exception');
  }

  describe(): string {
    const s = this.stats;
    const ex = s.exception ? ` exception ${s.exception.exceptions[0]?.code}: ${s.exception.exceptions[0]?.message}` : '';
    return `packets ${s.packets}, data ${s.dataPackets}, rows ${s.rows}, bytes ${s.bytes}, end ${s.end}${ex}, codes ${JSON.stringify(s.codes)}, error ${this.error?.message ?? 'none'}`;
  }

  private onData(chunk: Buffer): void {
    let packets: FramedPacket[];
    try {
      packets = this.framer.push(chunk);
    } catch (e) {
      this.error = e as Error;
      this.socket.destroy();
      return;
    }
    for (const p of packets) {
      const s = this.stats;
      s.packets++;
      s.bytes += p.end - p.start;
      s.codes[p.code] = (s.codes[p.code] ?? 0) + 1;
      switch (p.code) {
        case ServerCode.Hello:
          this.hello = p.packet as ServerHello;
          break;
        case ServerCode.Data:
          s.dataPackets++;
          s.rows += p.block?.rows ?? 0;
          if (!s.header && p.block) s.header = p.block.columns.map((c) => ({ name: c.name, type: c.type }));
          break;
        case ServerCode.EndOfStream:
          s.end = 'eos';
          break;
        case ServerCode.Exception:
          s.end = 'exception';
          s.exception = p.packet as ServerException;
          break;
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.checks]) check();
  }
}

// ---- observing the proxy and the backends ----------------------------------------------------

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns null (= condition met); throws its last message after timeoutMs. */
async function eventually(probe: () => Promise<string | null>, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  let last: string | null = 'not probed';
  while (Date.now() - t0 < timeoutMs) {
    last = await probe();
    if (last === null) return Date.now() - t0;
    await sleep(100);
  }
  throw new Error(`${what}: not true within ${timeoutMs} ms: ${last}`);
}

/** Sum of gatehouse_pool_connections{state} over the pools whose backend matches. */
function poolGauge(metrics: string, state: 'busy' | 'idle', backend?: string): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('gatehouse_pool_connections{')) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    if (!labels.includes(`state="${state}"`)) continue;
    if (backend !== undefined && !labels.includes(`backend="${backend}"`)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function nodeScalar(node: ClickHouseServer, sql: string): Promise<number> {
  return Number((await httpQuery(node.httpPort, sql)).trim());
}

/** Native connections the server has open (HTTP connections are not counted). */
/** The proxy's health checker keeps one connection per backend besides the pools. */
const HEALTH_CHECK_CONNECTIONS = 1;

function tcpConnections(node: ClickHouseServer): Promise<number> {
  return nodeScalar(node, "SELECT value FROM system.metrics WHERE metric = 'TCPConnection'");
}

/** Rows read so far by the query with this id on any node, or null when it runs nowhere. */
async function readRows(cluster: SandboxCluster, queryId: string): Promise<number | null> {
  for (const node of cluster.nodes) {
    const out = (await httpQuery(node.httpPort, `SELECT read_rows FROM system.processes WHERE query_id = '${queryId}'`)).trim();
    if (out !== '') return Number(out);
  }
  return null;
}

/** Queries of the proxy's backend users still running on any node. */
async function leftoverQueries(cluster: SandboxCluster): Promise<string[]> {
  const users = BACKEND_USERS.map((u) => `'${u}'`).join(', ');
  const found: string[] = [];
  for (const node of cluster.nodes) {
    const out = await httpQuery(
      node.httpPort,
      `SELECT user, query_id, elapsed, substring(query, 1, 80) FROM system.processes WHERE user IN (${users})`,
    );
    for (const line of out.split('\n').filter(Boolean)) found.push(`${node.name}: ${line}`);
  }
  return found;
}

// ---- the cluster and the proxy ----------------------------------------------------------------

let cluster: SandboxCluster;
let gh: Gatehouse;
const extraProxies: Gatehouse[] = [];
let tmp: string;

function backendArgs(): string[] {
  return [
    '--writer', `127.0.0.1:${cluster.writer.tcpPort}`,
    ...cluster.readers.flatMap((r) => ['--reader', `127.0.0.1:${r.tcpPort}`]),
    '--user', `${APP.name}:${APP.password}`,
    '--read-user', `${cluster.users.reader.name}:${cluster.users.reader.password}`,
    '--write-user', `${cluster.users.writer.name}:${cluster.users.writer.password}`,
  ];
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'gh-streaming-'));
  cluster = await startSandboxCluster();
  await httpQuery(cluster.writer.httpPort, `CREATE TABLE ${INSERT_TABLE} (n UInt64, s String) ENGINE = Memory`);
  gh = await startGatehouse([...backendArgs(), '--admin', '127.0.0.1:0']);
}, 60_000);

afterAll(async () => {
  await Promise.all(extraProxies.map((p) => p.stop()));
  await gh?.stop();
  await cluster?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * After a client went away: within a few seconds no busy pooled connection in /metrics, no query of the proxy's
 * users left on any node, and every native connection a node holds is one the pools account for (no leak).
 */
async function expectBackendsClean(what: string): Promise<void> {
  const tookMs = await eventually(
    async () => {
      const busy = poolGauge(await gh.metrics(), 'busy');
      const left = await leftoverQueries(cluster);
      return busy === 0 && left.length === 0 ? null : `busy ${busy}, running: ${JSON.stringify(left)}`;
    },
    8_000,
    `${what}: backends clean`,
  );
  await eventually(
    async () => {
      const m = await gh.metrics();
      const diffs: string[] = [];
      for (const node of cluster.nodes) {
        const pooled = poolGauge(m, 'idle', node.name) + poolGauge(m, 'busy', node.name);
        const open = await tcpConnections(node);
        // Each backend also holds the health checker's own connection (health.interval_ms).
        if (pooled + HEALTH_CHECK_CONNECTIONS !== open) diffs.push(`${node.name}: ${open} native connections, ${pooled} in the pools + ${HEALTH_CHECK_CONNECTIONS} health check`);
      }
      return diffs.length === 0 ? null : diffs.join('; ');
    },
    5_000,
    `${what}: backend connections all accounted for`,
  );
  console.log(`${what}: backends clean after ${tookMs} ms`);
}

/** A new client through the proxy runs a query to the end. */
async function expectNewQueryWorks(): Promise<void> {
  const c = await RawClient.connect(gh.port);
  try {
    c.sendQuery('SELECT number FROM system.numbers LIMIT 123456');
    await c.waitEnd(10_000);
    expect(c.stats.end).toBe('eos');
    expect(c.stats.rows).toBe(123_456);
  } finally {
    c.destroy();
  }
}

// ---- 1. backpressure ----------------------------------------------------------------------------

describe('backpressure: a client that stops reading a ~2 GB result', () => {
  test.each([
    ['compression off', false],
    ['compression on (LZ4)', true],
  ])('%s: proxy RSS grows < 64 MB while paused 10 s, the backend stalls, the stream then continues', async (label, compression) => {
    const c = await RawClient.connect(gh.port);
    const queryId = `gh-bp-${compression ? 'lz4' : 'none'}-${Date.now()}`;
    const t0 = Date.now();
    const proxyCpu0 = cpuSeconds(gh.pid);
    const testCpu0 = process.cpuUsage();
    c.sendQuery(HUGE_SELECT, { queryId, compression });
    // Warm-up: 64 MB through the proxy at full speed (JIT, buffers, pools all at their working size).
    await c.waitFor(() => c.stats.bytes >= 64 * MiB, 60_000, '64 MB of warm-up');
    const warmMs = Date.now() - t0;
    const warmCpu = `proxy CPU ${(cpuSeconds(gh.pid) - proxyCpu0).toFixed(2)} s, test CPU ${(
      (process.cpuUsage(testCpu0).user + process.cpuUsage(testCpu0).system) / 1e6
    ).toFixed(2)} s`;
    c.pause();
    const bytesAtPause = c.stats.bytes;
    const baseline = gh.rssBytes();
    const samples: number[] = [];
    let rowsEarly: number | null = null;
    let rowsLate: number | null = null;
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      samples.push(gh.rssBytes());
      if (i === 8) rowsEarly = await readRows(cluster, queryId);
    }
    rowsLate = await readRows(cluster, queryId);
    const peak = Math.max(...samples);
    const growthMiB = (peak - baseline) / MiB;
    console.log(
      `${label}: warm-up 64 MB in ${warmMs} ms (${warmCpu}); RSS baseline ${(baseline / MiB).toFixed(1)} MiB, peak while paused ` +
        `${(peak / MiB).toFixed(1)} MiB (growth ${growthMiB.toFixed(1)} MiB); backend read_rows ${rowsEarly} → ${rowsLate}`,
    );
    expect(c.stats.bytes).toBe(bytesAtPause); // really not reading
    expect(peak - baseline).toBeLessThan(64 * MiB);
    // The backpressure reaches ClickHouse: the query is still running and has (almost) stopped producing.
    expect(rowsEarly).not.toBeNull();
    expect(rowsLate).not.toBeNull();
    expect(rowsLate! - rowsEarly!).toBeLessThan(5_000_000);
    expect(rowsLate!).toBeLessThan(200_000_000);

    // Resume: the same stream goes on.
    c.resume();
    await c.waitFor(() => c.stats.bytes >= bytesAtPause + 64 * MiB, 60_000, '64 MB more after resuming');
    expect(c.stats.end).toBeNull();
    expect(c.stats.rows).toBeGreaterThan(0);
    c.destroy();
    await expectBackendsClean(`${label}: closed after resuming`);
  }, 90_000);
});

// ---- 2. clients that go away mid-query ----------------------------------------------------------

describe('a client that disconnects mid-query', () => {
  test('mid-result while reading: Cancel + drain, no busy/leaked backend connection, new queries work', async () => {
    const c = await RawClient.connect(gh.port);
    c.sendQuery(HUGE_SELECT, { queryId: `gh-dc-read-${Date.now()}` });
    await c.waitFor(() => c.stats.bytes >= 8 * MiB, 30_000, '8 MB');
    c.destroy();
    await expectBackendsClean('disconnect while reading');
    await expectNewQueryWorks();
  }, 40_000);

  test('mid-result while backpressured (client paused, then gone): no busy/leaked backend connection', async () => {
    const c = await RawClient.connect(gh.port);
    const queryId = `gh-dc-paused-${Date.now()}`;
    c.sendQuery(HUGE_SELECT, { queryId });
    await c.waitFor(() => c.stats.bytes >= 4 * MiB, 30_000, '4 MB');
    c.pause();
    await sleep(1_500); // the proxy's socket to the client fills; it pauses the backend
    expect(await readRows(cluster, queryId)).not.toBeNull();
    c.destroy();
    await expectBackendsClean('disconnect while backpressured');
    await expectNewQueryWorks();
  }, 40_000);

  test('mid-INSERT data stream: the writer keeps no stuck INSERT, the pool recovers', async () => {
    const c = await RawClient.connect(gh.port);
    const queryId = `gh-dc-insert-${Date.now()}`;
    c.sendQuery(`INSERT INTO ${INSERT_TABLE} VALUES`, { queryId });
    // The server's header block opens the client's data phase.
    await c.waitFor(() => c.stats.dataPackets >= 1, 10_000, 'the INSERT header block');
    expect(c.stats.header).toEqual([
      { name: 'n', type: 'UInt64' },
      { name: 's', type: 'String' },
    ]);
    for (let b = 0; b < 5; b++) {
      const n = Array.from({ length: 10_000 }, (_, i) => BigInt(b * 10_000 + i));
      c.sendData({ columns: [{ name: 'n', type: 'UInt64', values: n }, { name: 's', type: 'String', values: n.map(String) }] });
    }
    // The INSERT is running on the writer, waiting for more blocks.
    await eventually(
      async () => ((await readRows(cluster, queryId)) === null ? 'INSERT not in system.processes' : null),
      5_000,
      'INSERT running on the writer',
    );
    c.destroy();
    await expectBackendsClean('disconnect mid-INSERT');

    // A new INSERT through the proxy works, and lands on the writer.
    const res = await runClient(
      gh.port,
      ['--user', APP.name, '--password', APP.password, '--query', `INSERT INTO ${INSERT_TABLE} FORMAT TSV`],
      '1000000001\ta\n1000000002\tb\n1000000003\tc\n',
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(await nodeScalar(cluster.writer, `SELECT count() FROM ${INSERT_TABLE} WHERE n > 1000000000`)).toBe(3);
    const partial = await nodeScalar(cluster.writer, `SELECT count() FROM ${INSERT_TABLE} WHERE n < 1000000000`);
    console.log(`disconnect mid-INSERT: ${partial} of the 50000 rows sent before the disconnect were committed`);
    await expectBackendsClean('after the next INSERT');
  }, 40_000);
});

describe('a disconnect mid-result on a one-connection pool: Cancel + drain, then the same backend connection is reused', () => {
  let one: Gatehouse;
  let reader: ClickHouseServer;

  beforeAll(async () => {
    reader = cluster.readers[0];
    const file = join(tmp, 'one-connection.yaml');
    writeFileSync(
      file,
      [
        `writer: 127.0.0.1:${cluster.writer.tcpPort}`,
        `readers: [127.0.0.1:${reader.tcpPort}]`,
        `users: [{ name: ${APP.name}, password_sha256_hex: ${createHash('sha256').update(APP.password).digest('hex')} }]`,
        `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
        `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
        'admin: 127.0.0.1:0',
        'pool: { min_idle: 0, max_size: 1 }',
        '',
      ].join('\n'),
    );
    one = await startGatehouse(['--config', file]);
    extraProxies.push(one);
  }, 30_000);

  afterAll(async () => {
    await one?.stop();
  });

  /** The reader pool's connections in /metrics, and all native connections reader1 has open (compared before/after). */
  async function readerState(): Promise<{ pooled: number; busy: number; open: number }> {
    const m = await one.metrics();
    return {
      pooled: poolGauge(m, 'idle', 'reader1') + poolGauge(m, 'busy', 'reader1'),
      busy: poolGauge(m, 'busy', 'reader1'),
      open: await tcpConnections(reader),
    };
  }

  /**
   * Whether the proxy's backend connection holds framed-but-undelivered packets (paused mid-chunk) when the client
   * goes away is a matter of timing, so the backpressured case is tried several times; every attempt must drain.
   */
  test.each([
    ['while reading, default blocks', false, null, 1],
    ['while reading, 100-row blocks', false, '100', 1],
    ['while backpressured (client paused 1 s), 100-row blocks, 4 attempts', true, '100', 4],
  ])('%s', async (_label, paused, blockSize, attempts) => {
    // One query first so the pool holds its single reader connection.
    const warm = await RawClient.connect(one.port);
    warm.sendQuery('SELECT 1');
    await warm.waitEnd(10_000);
    warm.destroy();
    const open0 = await tcpConnections(reader);
    expect(await readerState()).toEqual({ pooled: 1, busy: 0, open: open0 });

    for (let attempt = 1; attempt <= attempts; attempt++) {
      const c = await RawClient.connect(one.port);
      const queryId = `gh-dc-one-${paused ? 'paused' : 'reading'}-${blockSize ?? 'default'}-${attempt}-${Date.now()}`;
      // Small blocks: one TCP read from the backend carries many packets.
      const settings: Setting[] = blockSize ? [{ name: 'max_block_size', value: blockSize, flags: 0 }] : [];
      c.sendQuery('SELECT number FROM system.numbers', { queryId, settings });
      await c.waitFor(() => c.stats.bytes >= 2 * MiB, 30_000, '2 MB');
      if (paused) {
        c.pause();
        await sleep(1_000);
      }
      expect(await readRows(cluster, queryId)).not.toBeNull();
      c.destroy();
      await eventually(
        async () => {
          const s = await readerState();
          const left = await leftoverQueries(cluster);
          return s.busy === 0 && left.length === 0 ? null : `${JSON.stringify(s)}, running ${JSON.stringify(left)}`;
        },
        8_000,
        `attempt ${attempt}: query gone and connection released`,
      );
      // Drained and back in the pool: still one pooled connection, and the reader saw no reconnect.
      expect({ attempt, ...(await readerState()) }).toEqual({ attempt, pooled: 1, busy: 0, open: open0 });
      const next = await RawClient.connect(one.port);
      try {
        next.sendQuery('SELECT number FROM system.numbers LIMIT 1000');
        await next.waitEnd(10_000);
        expect(next.stats.end).toBe('eos');
        expect(next.stats.rows).toBe(1000);
      } finally {
        next.destroy();
      }
      expect({ attempt, ...(await readerState()) }).toEqual({ attempt, pooled: 1, busy: 0, open: open0 });
    }
  }, 60_000);
});

// ---- 3. Cancel -------------------------------------------------------------------------------------

describe('Cancel', () => {
  test('a long SELECT cancelled after some blocks ends with EndOfStream; the connection and the backend connection are reused', async () => {
    const m0 = await gh.metrics();
    const readersBefore = await Promise.all(cluster.readers.map(tcpConnections));
    const pooledBefore = cluster.readers.map((r) => poolGauge(m0, 'idle', r.name) + poolGauge(m0, 'busy', r.name));
    const c = await RawClient.connect(gh.port);
    try {
      const queryId = `gh-cancel-${Date.now()}`;
      c.sendQuery('SELECT number FROM system.numbers', {
        queryId,
        settings: [{ name: 'max_block_size', value: '10000', flags: 0 }],
      });
      await c.waitFor(() => c.stats.rows >= 30_000, 10_000, 'three blocks');
      c.sendCancel();
      await c.waitEnd(10_000);
      expect(c.describe()).toContain('end eos');
      expect(c.stats.exception).toBeNull();
      // The same client connection runs the next queries.
      for (const n of [7, 8, 9]) {
        c.sendQuery(`SELECT number FROM system.numbers LIMIT ${n}`);
        await c.waitEnd(10_000);
        expect(c.stats.end).toBe('eos');
        expect(c.stats.rows).toBe(n);
      }
      expect(await leftoverQueries(cluster)).toEqual([]);
      // The cancelled backend connection was drained and went back to the pool: no new connection was opened.
      const m1 = await gh.metrics();
      expect(poolGauge(m1, 'busy')).toBe(0);
      expect(cluster.readers.map((r) => poolGauge(m1, 'idle', r.name) + poolGauge(m1, 'busy', r.name))).toEqual(pooledBefore);
      expect(await Promise.all(cluster.readers.map(tcpConnections))).toEqual(readersBefore);
    } finally {
      c.destroy();
    }
  }, 40_000);
});

// ---- 4. result_buffering: buffer --------------------------------------------------------------------

describe('streaming.result_buffering: buffer', () => {
  const CAP = 64 * MiB;
  /** ≈ 32 MB in Native: more than the socket buffers hold, less than the cap. */
  const SMALL_ROWS = 2_000_000;
  /** ≈ 170 MB: over the cap. */
  const LARGE_ROWS = 10_000_000;
  let buffered: Gatehouse;

  beforeAll(async () => {
    const file = join(tmp, 'buffer.yaml');
    writeFileSync(
      file,
      [
        `writer: 127.0.0.1:${cluster.writer.tcpPort}`,
        'readers:',
        ...cluster.readers.map((r) => `  - 127.0.0.1:${r.tcpPort}`),
        'users:',
        `  - { name: ${APP.name}, password_sha256_hex: ${createHash('sha256').update(APP.password).digest('hex')} }`,
        `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
        `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
        'admin: 127.0.0.1:0',
        'streaming:',
        '  result_buffering: buffer',
        `  buffer_max_bytes: ${CAP}`,
        '',
      ].join('\n'),
    );
    buffered = await startGatehouse(['--config', file]);
    extraProxies.push(buffered);
  }, 30_000);

  afterAll(async () => {
    await buffered?.stop();
  });

  async function pausedSmallResult(proxy: Gatehouse): Promise<{ busyWhilePaused: number; client: RawClient }> {
    const c = await RawClient.connect(proxy.port);
    c.pause(); // never reads until told
    c.sendQuery(`SELECT number, toString(number) FROM system.numbers LIMIT ${SMALL_ROWS}`);
    let busy = -1;
    try {
      await eventually(
        async () => {
          busy = poolGauge(await proxy.metrics(), 'busy');
          return busy === 0 ? null : `busy ${busy}`;
        },
        4_000,
        'backend released',
      );
    } catch {
      // busy stayed > 0: reported to the caller
    }
    return { busyWhilePaused: busy, client: c };
  }

  test('a result under the cap: read whole, backend released while the client is still paused; rows complete', async () => {
    const { busyWhilePaused, client: c } = await pausedSmallResult(buffered);
    try {
      expect(busyWhilePaused).toBe(0);
      expect(c.stats.end).toBeNull(); // the client has not read it yet
      const rss = buffered.rssBytes();
      console.log(`buffer mode: backend released while the client is paused; proxy RSS ${(rss / MiB).toFixed(1)} MiB`);
      c.resume();
      await c.waitEnd(30_000);
      expect(c.stats.end).toBe('eos');
      expect(c.stats.rows).toBe(SMALL_ROWS);
      expect(c.stats.header).toEqual([
        { name: 'number', type: 'UInt64' },
        { name: 'toString(number)', type: 'String' },
      ]);
      // The same client runs another query on the buffered proxy.
      c.sendQuery('SELECT 1');
      await c.waitEnd(10_000);
      expect(c.stats.rows).toBe(1);
    } finally {
      c.destroy();
    }
  }, 40_000);

  test('control: in stream mode the same paused client keeps its backend connection busy', async () => {
    const { busyWhilePaused, client: c } = await pausedSmallResult(gh);
    try {
      expect(busyWhilePaused).toBe(1);
      c.resume();
      await c.waitEnd(30_000);
      expect(c.stats.rows).toBe(SMALL_ROWS);
      expect(poolGauge(await gh.metrics(), 'busy')).toBe(0);
    } finally {
      c.destroy();
    }
  }, 40_000);

  test('a result over the cap still streams, complete and in order', async () => {
    const c = await RawClient.connect(buffered.port);
    try {
      const t0 = Date.now();
      c.sendQuery(`SELECT number, toString(number) FROM system.numbers LIMIT ${LARGE_ROWS}`);
      await c.waitEnd(60_000);
      console.log(`buffer mode, over the cap: ${LARGE_ROWS} rows, ${(c.stats.bytes / MiB).toFixed(0)} MiB in ${Date.now() - t0} ms`);
      expect(c.stats.end).toBe('eos');
      expect(c.stats.rows).toBe(LARGE_ROWS);
      expect(c.stats.bytes).toBeGreaterThan(CAP);
      expect(poolGauge(await buffered.metrics(), 'busy')).toBe(0);
      // Going over the cap flushes the buffered packets in one go: that must not stack a 'drain' listener per packet.
      expect(buffered.output()).not.toMatch(/MaxListenersExceededWarning/);
    } finally {
      c.destroy();
    }
  }, 90_000);
});

// ---- 5. compression on, through clickhouse-client ---------------------------------------------------

describe('large compressed results through clickhouse-client', () => {
  const ROWS = 10_000_000;
  test.each([
    ['LZ4 (default)', [] as string[]],
    ['ZSTD', ['--network_compression_method=zstd']],
  ])('%s: 10M rows complete and correct', async (label, extra) => {
    // Counted by awk so 150 MB of TSV never sits in this process; column 2 must equal column 1 on every row.
    const cmd =
      `${CLICKHOUSE_CLIENT_BIN} --host 127.0.0.1 --port ${gh.port} --user ${APP.name} --password ${APP.password} ` +
      `${extra.join(' ')} --query 'SELECT number, toString(number) FROM system.numbers LIMIT ${ROWS}' ` +
      `| awk -F '\\t' '{ n++; s += $1; if ($1 != $2) bad++ } END { printf "%d %.0f %d\\n", n, s, bad }'; ` +
      'echo "status ${PIPESTATUS[0]}"';
    const t0 = Date.now();
    const res = await runProcess('clickhouse-client', '/bin/bash', ['-c', cmd], { stdin: '', timeoutMs: 90_000 });
    console.log(`clickhouse-client ${label}: ${ROWS} rows in ${Date.now() - t0} ms`);
    expect(res.stderr).toBe('');
    expect(res.stdout.trim().split('\n')).toEqual([`${ROWS} ${(ROWS * (ROWS - 1)) / 2} 0`, 'status 0']);
    expect(poolGauge(await gh.metrics(), 'busy')).toBe(0);
  }, 100_000);
});
