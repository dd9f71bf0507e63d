/**
 * Client compatibility through the proxy (issue 3): clickhouse-client 18.16 and clickhouse-benchmark pointed at a
 * Gatehouse process in front of the sandbox cluster behave exactly as against ClickHouse itself. Every expectation
 * is the same command run directly against a node, byte for byte. Two suites: with backend identities (clients log
 * in as a proxy user) and in pass-through mode (clients log in as `default`, credentials go to the backends).
 * Also a hand-written native client (src/protocol codec over a raw socket): Ping before and after a query, and
 * TablesStatusRequest. The Python driver is in proxy-python.test.ts.
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import {
  errorCodeOf,
  query,
  runClient,
  runProcess,
  startSandboxCluster,
  type Credentials,
  type SandboxCluster,
} from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { spawnTracked } from '../../src/sandbox';
import { decodeFramedBlock, encodeSimpleQuery } from '../../src/pool';
import {
  ClientCode,
  ConnectionState,
  Framer,
  ServerCode,
  Writer,
  encodeClientPacket,
  type FramedPacket,
  type ServerException,
  type ServerHello,
  type ServerTablesStatusResponse,
} from '../../src/protocol';

const ALL_TYPES_SQL = readFileSync(join(__dirname, '..', 'fixtures', 'sql', 'all-types-18.16.sql'), 'utf8').trim();
const PROXY_USER: Credentials = { name: 'app', password: 'app_pw' };
const DEFAULT_USER: Credentials = { name: 'default', password: '' };
/** clickhouse-client 18.16's DBMS_TCP_PROTOCOL_VERSION: the raw client speaks as it does. */
const CLIENT_REVISION = 54412;

interface Mode {
  readonly name: string;
  /** Extra `gatehouse serve` flags besides --writer/--reader. */
  readonly flags: (c: SandboxCluster) => string[];
  /** Who the clients log in as, at the proxy. */
  readonly proxyUser: (c: SandboxCluster) => Credentials;
  /** Who the reference commands log in as, directly on a node (the identity the proxy uses for reads). */
  readonly directReadUser: (c: SandboxCluster) => Credentials;
  readonly directWriteUser: (c: SandboxCluster) => Credentials;
}

const MODES: readonly Mode[] = [
  {
    name: 'backend identities (--user/--read-user/--write-user)',
    flags: (c) => [
      '--user',
      `${PROXY_USER.name}:${PROXY_USER.password}`,
      '--read-user',
      `${c.users.reader.name}:${c.users.reader.password}`,
      '--write-user',
      `${c.users.writer.name}:${c.users.writer.password}`,
    ],
    proxyUser: () => PROXY_USER,
    directReadUser: (c) => c.users.reader,
    directWriteUser: (c) => c.users.writer,
  },
  {
    name: 'pass-through (no identities, clients log in as default)',
    flags: () => [],
    proxyUser: () => DEFAULT_USER,
    directReadUser: () => DEFAULT_USER,
    directWriteUser: () => DEFAULT_USER,
  },
];

function authArgs(u: Credentials): string[] {
  return u.password === '' ? ['--user', u.name] : ['--user', u.name, '--password', u.password];
}

interface RawRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
}

/** clickhouse-client with binary-safe stdout (runClient decodes stdout as UTF-8, which would hide byte differences). */
async function clientBytes(port: number, args: readonly string[], stdin: string | Buffer = '', timeoutMs = 60_000): Promise<RawRun> {
  const proc = spawnTracked({
    kind: 'clickhouse-client',
    command: '/usr/bin/clickhouse-client',
    args: ['--host', '127.0.0.1', '--port', String(port), ...args],
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  proc.child.ref();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.child.stdout!.on('data', (c: Buffer) => out.push(c));
  proc.child.stderr!.on('data', (c: Buffer) => err.push(c));
  proc.child.stdin!.on('error', () => undefined);
  proc.child.stdin!.end(stdin);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.signal('SIGKILL');
  }, timeoutMs);
  const closed = new Promise<void>((resolve) => proc.child.once('close', () => resolve()));
  const info = await proc.exited;
  if (info.code !== null || info.signal !== null) await closed;
  clearTimeout(timer);
  return { code: info.code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), timedOut };
}

/** The part of an error report that differs between connections: "Received from 127.0.0.1:PORT. " (or "localhost:PORT, 127.0.0.1. "). */
function normalizeError(stderr: string): string {
  return stderr.replace(/Received from [^ ,]+(?:, [^ ]+)?\. /g, 'Received from <host>. ');
}

/** The "Code: N. DB::Exception: ..." line(s) of clickhouse-client's stderr. */
function exceptionText(stderr: string): string {
  return normalizeError(stderr)
    .split('\n')
    .filter((l) => /Code: \d+\./.test(l))
    .join('\n');
}

/** A native-protocol client written with the codec, for packets no CLI sends (TablesStatusRequest, bare Ping). */
class RawNativeClient {
  private readonly state = new ConnectionState();
  private readonly framer = new Framer('server', this.state);
  private readonly packets: FramedPacket[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  hello!: ServerHello;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.packets.push(...this.framer.push(chunk));
      } catch (e) {
        this.failure = e as Error;
      }
      this.wake?.();
    });
    const fail = (e?: Error) => {
      this.failure ??= e ?? new Error('connection closed by the server');
      this.wake?.();
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  static async connect(port: number, user: Credentials, revision = CLIENT_REVISION): Promise<RawNativeClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new RawNativeClient(socket);
    c.state.onClientHello(revision);
    const w = new Writer();
    encodeClientPacket(
      w,
      {
        code: ClientCode.Hello,
        clientName: 'gatehouse raw test client',
        versionMajor: 18,
        versionMinor: 16,
        revision,
        database: '',
        user: user.name,
        password: user.password,
      },
      revision,
    );
    c.socket.write(w.toBuffer());
    const p = await c.next();
    if (p.code !== ServerCode.Hello) throw new Error(`expected the server Hello, got packet ${p.code}`);
    c.hello = p.packet as ServerHello;
    return c;
  }

  get revision(): number {
    return this.state.revision;
  }

  async next(timeoutMs = 10_000): Promise<FramedPacket> {
    const deadline = Date.now() + timeoutMs;
    while (this.packets.length === 0) {
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.packets.shift()!;
  }

  send(buf: Buffer): void {
    this.socket.write(buf);
  }

  sendPacket(p: Parameters<typeof encodeClientPacket>[1]): void {
    const w = new Writer();
    encodeClientPacket(w, p, this.revision);
    this.send(w.toBuffer());
  }

  async ping(): Promise<number> {
    this.sendPacket({ code: ClientCode.Ping });
    return (await this.next()).code;
  }

  /** Runs a query without compression; returns the rows of its Data blocks and every packet code seen. */
  async query(sql: string): Promise<{ rows: unknown[][]; codes: number[]; exception?: ServerException }> {
    this.send(encodeSimpleQuery(sql, this.revision));
    const rows: unknown[][] = [];
    const codes: number[] = [];
    for (;;) {
      const p = await this.next();
      codes.push(p.code);
      if (p.code === ServerCode.Data && p.block && p.block.rows > 0) {
        const b = decodeFramedBlock(p, this.revision);
        for (let i = 0; i < b.rows; i++) rows.push(b.columns.map((c) => c.values[i]));
      }
      if (p.code === ServerCode.Exception) return { rows, codes, exception: p.packet as ServerException };
      if (p.code === ServerCode.EndOfStream) return { rows, codes };
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** 1,000,000 TSV rows with escapes, UTF-8, NULLs and arrays, and the aggregates ClickHouse must find after loading them. */
function generateTsv(rows: number): { tsv: Buffer; expected: Record<string, string> } {
  const EPOCH_DAY_2020 = 18262; // toUInt16(toDate('2020-01-01'))
  const lines: string[] = [];
  let sumK = 0;
  let sumLen = 0;
  let sumDay = 0;
  let countN = 0;
  let sumN = 0;
  let sumALen = 0;
  let sumA = 0;
  for (let i = 0; i < rows; i++) {
    const k = ((i * 7919) % 1_000_003) - 500_000;
    let s: string;
    let sEsc: string;
    if (i % 1000 === 0) {
      s = `a\tb\\c${i}`;
      sEsc = `a\\tb\\\\c${i}`;
    } else if (i % 777 === 0) {
      s = `ключ-${i}`;
      sEsc = s;
    } else {
      s = `s${i}`;
      sEsc = s;
    }
    const day = EPOCH_DAY_2020 + (i % 3650);
    const d = new Date(day * 86_400_000).toISOString().slice(0, 10);
    const nNull = i % 10 === 0;
    const n = (i % 1000) - 500;
    const a: number[] = [];
    for (let j = 0; j < i % 5; j++) a.push((i + j) % 65_536);
    lines.push(`${i}\t${k}\t${sEsc}\t${d}\t${nNull ? '\\N' : n}\t[${a.join(',')}]`);
    sumK += k;
    sumLen += Buffer.byteLength(s);
    sumDay += day;
    if (!nNull) {
      countN++;
      sumN += n;
    }
    sumALen += a.length;
    for (const v of a) sumA += v;
  }
  const sumId = (BigInt(rows) * BigInt(rows - 1)) / 2n;
  return {
    tsv: Buffer.from(lines.join('\n') + '\n'),
    expected: {
      count: String(rows),
      sumId: String(sumId),
      sumK: String(sumK),
      sumLen: String(sumLen),
      sumDay: String(sumDay),
      countN: String(countN),
      sumN: String(sumN),
      sumALen: String(sumALen),
      sumA: String(sumA),
    },
  };
}

/**
 * Direct statements on the nodes use clickhouse-client, not httpQuery: httpQuery goes through Node's keep-alive
 * global agent, and a pooled socket the server closed after its 3 s keep_alive_timeout makes it fail with
 * "socket hang up" after a long step such as the 1M-row INSERT.
 */
const INSERT_COLUMNS = '(id UInt64, k Int64, s String, d Date, n Nullable(Int32), a Array(UInt16))';
const CHECK_SQL = (table: string) =>
  `SELECT count(), sum(id), sum(k), sum(length(s)), sum(toUInt16(d)), count(n), sum(n), sum(length(a)), sum(arraySum(a)), ` +
  `sum(cityHash64(id, k, s, d, a, assumeNotNull(n), isNull(n))) FROM ${table} FORMAT TSV`;

let cluster: SandboxCluster;

beforeAll(async () => {
  cluster = await startSandboxCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe.each(MODES)('clickhouse-client through the proxy: $name', (mode) => {
  let gh: Gatehouse;
  let user: Credentials;
  let direct: Credentials;
  /** Reference reads go to the first reader directly. */
  let readerPort: number;

  beforeAll(async () => {
    gh = await startGatehouse([
      '--writer',
      `127.0.0.1:${cluster.writer.tcpPort}`,
      ...cluster.readers.flatMap((r) => ['--reader', `127.0.0.1:${r.tcpPort}`]),
      ...mode.flags(cluster),
    ]);
    user = mode.proxyUser(cluster);
    direct = mode.directReadUser(cluster);
    readerPort = cluster.readers[0].tcpPort;
  }, 30_000);

  afterAll(async () => {
    await gh?.stop();
  });

  describe('a SELECT over every 18.16 column type is byte-identical to a direct one', () => {
    const FORMATS = ['', ' FORMAT TSV', ' FORMAT Native', ' FORMAT RowBinary'] as const;
    const COMPRESSION: readonly (readonly string[])[] = [[], ['--network_compression_method=zstd'], ['--compression', '0']];

    test.each(FORMATS.map((f) => [f === '' ? 'default (TabSeparated)' : f.trim(), f]))('%s', async (_label, fmt) => {
      const sql = ALL_TYPES_SQL + fmt;
      const ref = await clientBytes(readerPort, [...authArgs(direct), '--query', sql]);
      expect(ref.stderr).toBe('');
      expect(ref.code).toBe(0);
      expect(ref.stdout.length).toBeGreaterThan(1_000_000);
      for (const comp of COMPRESSION) {
        const got = await clientBytes(gh.port, [...authArgs(user), ...comp, '--query', sql]);
        expect({ comp, stderr: got.stderr, code: got.code }).toEqual({ comp, stderr: '', code: 0 });
        expect(got.stdout.length).toBe(ref.stdout.length);
        // Buffer.equals, not toEqual: a mismatch report of two MB-sized buffers is useless; say where instead
        const at = got.stdout.findIndex((b, i) => b !== ref.stdout[i]);
        expect({ comp, firstDifferenceAt: at }).toEqual({ comp, firstDifferenceAt: -1 });
      }
    }, 60_000);
  });

  describe('--multiquery', () => {
    async function both(script: string, extra: string[] = []): Promise<{ proxy: string; ref: string }> {
      const [p, r] = await Promise.all([
        runClient(gh.port, [...authArgs(user), ...extra, '--multiquery', '--query', script], ''),
        runClient(readerPort, [...authArgs(direct), ...extra, '--multiquery', '--query', script], ''),
      ]);
      expect({ stderr: r.stderr, code: r.code }).toEqual({ stderr: '', code: 0 });
      expect({ stderr: p.stderr, code: p.code }).toEqual({ stderr: '', code: 0 });
      return { proxy: p.stdout, ref: r.stdout };
    }

    test('several SELECTs', async () => {
      const { proxy, ref } = await both(
        "SELECT 1; SELECT 'two', [1, 2]; SELECT number * 3 FROM system.numbers LIMIT 5; SELECT count() FROM (SELECT number FROM system.numbers LIMIT 70000);" +
          ' SELECT sum(number) FROM (SELECT number FROM system.numbers LIMIT 100000)',
      );
      expect(proxy).toBe("1\ntwo\t[1,2]\n0\n3\n6\n9\n12\n70000\n4999950000\n");
      expect(proxy).toBe(ref);
    });

    test('SET then SELECT sees the setting', async () => {
      const script =
        "SET max_threads = 3; SELECT value, changed FROM system.settings WHERE name = 'max_threads';" +
        ' SET max_block_size = 1000; SELECT max(bs), count() FROM (SELECT blockSize() AS bs FROM system.numbers LIMIT 10000);' +
        " SELECT value FROM system.settings WHERE name = 'max_block_size'";
      const { proxy, ref } = await both(script);
      expect(proxy).toBe('3\t1\n1000\t10000\n1000\n');
      expect(proxy).toBe(ref);
    });

    test('a later SET overrides an earlier one, and a query-level SETTINGS wins for one query', async () => {
      const script =
        'SET max_block_size = 1000; SET max_block_size = 2500;' +
        ' SELECT max(bs) FROM (SELECT blockSize() AS bs FROM system.numbers LIMIT 10000);' +
        ' SELECT max(bs) FROM (SELECT blockSize() AS bs FROM system.numbers LIMIT 10000) SETTINGS max_block_size = 700;' +
        ' SELECT max(bs) FROM (SELECT blockSize() AS bs FROM system.numbers LIMIT 10000)';
      const { proxy, ref } = await both(script);
      expect(proxy).toBe('2500\n700\n2500\n');
      expect(proxy).toBe(ref);
    });

    test('USE then unqualified SELECTs', async () => {
      const script =
        'USE gatehouse_meta; SELECT currentDatabase(); SELECT count() FROM node; SHOW TABLES; USE system; SELECT currentDatabase(); SELECT dummy FROM one';
      const { proxy, ref } = await both(script);
      expect(proxy).toBe('gatehouse_meta\n1\nnode\nsystem\n0\n');
      expect(proxy).toBe(ref);
    });

    test('--database on the command line', async () => {
      const { proxy, ref } = await both('SELECT currentDatabase(); SELECT count() FROM node', ['--database', 'gatehouse_meta']);
      expect(proxy).toBe('gatehouse_meta\n1\n');
      expect(proxy).toBe(ref);
    });
  });

  test('INSERT from stdin, FORMAT TSV, 1,000,000 rows: count and checksums on the writer', async () => {
    const { tsv, expected } = generateTsv(1_000_000);
    const suffix = mode.proxyUser(cluster).name === 'default' ? 'pt' : 'id';
    const viaProxy = `default.ins_proxy_${suffix}`;
    const viaDirect = `default.ins_direct_${suffix}`;
    const writer = mode.directWriteUser(cluster);
    // DDL through the proxy: routed to the writer.
    await query(cluster.writer.tcpPort, `DROP TABLE IF EXISTS ${viaProxy}`, writer);
    await query(cluster.writer.tcpPort, `DROP TABLE IF EXISTS ${viaDirect}`, writer);
    const ddl = await runClient(gh.port, [...authArgs(user), '--query', `CREATE TABLE ${viaProxy} ${INSERT_COLUMNS} ENGINE = MergeTree ORDER BY id`], '');
    expect({ stderr: ddl.stderr, code: ddl.code }).toEqual({ stderr: '', code: 0 });
    await query(cluster.writer.tcpPort, `CREATE TABLE ${viaDirect} ${INSERT_COLUMNS} ENGINE = MergeTree ORDER BY id`, writer);

    const t0 = Date.now();
    const ins = await runClient(gh.port, [...authArgs(user), '--query', `INSERT INTO ${viaProxy} FORMAT TSV`], tsv, 120_000);
    const proxyMs = Date.now() - t0;
    expect({ stderr: ins.stderr, code: ins.code, timedOut: ins.timedOut }).toEqual({ stderr: '', code: 0, timedOut: false });
    const t1 = Date.now();
    const insDirect = await runClient(cluster.writer.tcpPort, [...authArgs(writer), '--query', `INSERT INTO ${viaDirect} FORMAT TSV`], tsv, 120_000);
    const directMs = Date.now() - t1;
    expect({ stderr: insDirect.stderr, code: insDirect.code }).toEqual({ stderr: '', code: 0 });
    process.stdout.write(`[proxy-clients ${suffix}] 1M-row TSV INSERT (${tsv.length} bytes): proxy ${proxyMs} ms, direct ${directMs} ms\n`);

    const gotProxy = (await query(cluster.writer.tcpPort, CHECK_SQL(viaProxy), writer)).trim().split('\t');
    const gotDirect = (await query(cluster.writer.tcpPort, CHECK_SQL(viaDirect), writer)).trim().split('\t');
    const names = Object.keys(expected);
    expect(Object.fromEntries(names.map((n, i) => [n, gotProxy[i]]))).toEqual(expected);
    expect(gotProxy).toEqual(gotDirect); // including the cityHash64 checksum over every column
    // The table exists on the writer only (the nodes do not replicate): the INSERT did not land on a reader.
    for (const r of cluster.readers) {
      expect(await query(r.tcpPort, `EXISTS TABLE ${viaProxy}`)).toBe('0\n');
    }
    await query(cluster.writer.tcpPort, `DROP TABLE ${viaProxy}`, writer);
    await query(cluster.writer.tcpPort, `DROP TABLE ${viaDirect}`, writer);
  }, 150_000);

  test('INSERT with --compression 0 and with ZSTD (100,000 TSV rows each), and INSERT VALUES inline', async () => {
    const { tsv, expected } = generateTsv(100_000);
    const suffix = mode.proxyUser(cluster).name === 'default' ? 'pt' : 'id';
    const writer = mode.directWriteUser(cluster);
    const variants: [string, string[]][] = [
      ['nocomp', ['--compression', '0']],
      ['zstd', ['--network_compression_method=zstd']],
    ];
    for (const [tag, comp] of variants) {
      const table = `default.ins_${tag}_${suffix}`;
      await query(cluster.writer.tcpPort, `DROP TABLE IF EXISTS ${table}`, writer);
      const ddl = await runClient(gh.port, [...authArgs(user), '--query', `CREATE TABLE ${table} ${INSERT_COLUMNS} ENGINE = MergeTree ORDER BY id`], '');
      expect({ stderr: ddl.stderr, code: ddl.code }).toEqual({ stderr: '', code: 0 });
      const ins = await runClient(gh.port, [...authArgs(user), ...comp, '--query', `INSERT INTO ${table} FORMAT TSV`], tsv, 60_000);
      expect({ tag, stderr: ins.stderr, code: ins.code }).toEqual({ tag, stderr: '', code: 0 });
      const got = (await query(cluster.writer.tcpPort, CHECK_SQL(table), writer)).trim().split('\t');
      const names = Object.keys(expected);
      expect({ tag, ...Object.fromEntries(names.map((n, i) => [n, got[i]])) }).toEqual({ tag, ...expected });
      await query(cluster.writer.tcpPort, `DROP TABLE ${table}`, writer);
    }
    const table = `default.ins_values_${suffix}`;
    await query(cluster.writer.tcpPort, `DROP TABLE IF EXISTS ${table}`, writer);
    await query(cluster.writer.tcpPort, `CREATE TABLE ${table} ${INSERT_COLUMNS} ENGINE = MergeTree ORDER BY id`, writer);
    const values = await runClient(
      gh.port,
      [...authArgs(user), '--query', `INSERT INTO ${table} VALUES (1, -1, 'a\\tb', '2020-01-02', NULL, [1, 2]), (2, 5, 'ключ', '2021-03-04', 7, [])`],
      '',
    );
    expect({ stderr: values.stderr, code: values.code }).toEqual({ stderr: '', code: 0 });
    // VALUES data on stdin, as the client sends it in Data blocks
    const stdinValues = await runClient(gh.port, [...authArgs(user), '--query', `INSERT INTO ${table} VALUES`], "(3, 0, '', '1970-01-02', -1, [65535])\n");
    expect({ stderr: stdinValues.stderr, code: stdinValues.code }).toEqual({ stderr: '', code: 0 });
    expect(await query(cluster.writer.tcpPort, `SELECT * FROM ${table} ORDER BY id`, writer)).toBe(
      "1\t-1\ta\\tb\t2020-01-02\t\\N\t[1,2]\n2\t5\tключ\t2021-03-04\t7\t[]\n3\t0\t\t1970-01-02\t-1\t[65535]\n",
    );
    await query(cluster.writer.tcpPort, `DROP TABLE ${table}`, writer);
  }, 90_000);

  test('WITH TOTALS and --extremes 1: byte-identical in TSV, PrettyCompact and Native, with every compression', async () => {
    const sql =
      'SELECT number % 3 AS k, count(), sum(number), groupArray(number % 5) FROM (SELECT number FROM system.numbers LIMIT 1000) ' +
      'GROUP BY k WITH TOTALS ORDER BY k';
    for (const fmt of ['TSV', 'PrettyCompactNoEscapes', 'Native']) {
      const ref = await clientBytes(readerPort, [...authArgs(direct), '--extremes', '1', '--query', `${sql} FORMAT ${fmt}`]);
      expect({ fmt, stderr: ref.stderr, code: ref.code }).toEqual({ fmt, stderr: '', code: 0 });
      for (const comp of [[], ['--compression', '0'], ['--network_compression_method=zstd']]) {
        const got = await clientBytes(gh.port, [...authArgs(user), ...comp, '--extremes', '1', '--query', `${sql} FORMAT ${fmt}`]);
        expect({ fmt, comp, stderr: got.stderr, code: got.code, same: got.stdout.equals(ref.stdout) }).toEqual({
          fmt,
          comp,
          stderr: '',
          code: 0,
          same: true,
        });
      }
    }
  }, 60_000);

  test('an external table from clickhouse-client --external (100,000 rows on stdin)', async () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => `${i + 1}\tv${i + 1}`).join('\n') + '\n';
    const args = ['--external', '--file=-', '--name=ext', '--structure=x UInt32, s String', '--query', 'SELECT count(), sum(x), uniqExact(s) FROM ext'];
    const [p, r] = await Promise.all([
      runClient(gh.port, [...authArgs(user), ...args], rows),
      runClient(readerPort, [...authArgs(direct), ...args], rows),
    ]);
    expect({ stderr: p.stderr, code: p.code }).toEqual({ stderr: '', code: 0 });
    expect(p.stdout).toBe('100000\t5000050000\t100000\n');
    expect(p.stdout).toBe(r.stdout);
  });

  describe('exceptions: code and message identical to a direct connection', () => {
    async function compare(sql: string, extra: string[] = []) {
      const [p, r] = await Promise.all([
        runClient(gh.port, [...authArgs(user), ...extra, '--query', sql], ''),
        runClient(readerPort, [...authArgs(direct), ...extra, '--query', sql], ''),
      ]);
      return { proxy: p, ref: r };
    }

    test('unknown table: 60', async () => {
      const { proxy, ref } = await compare('SELECT * FROM default.no_such_table');
      expect(errorCodeOf(proxy.stderr)).toBe(60);
      expect(exceptionText(proxy.stderr)).toContain("Table default.no_such_table doesn't exist");
      expect(normalizeError(proxy.stderr)).toBe(normalizeError(ref.stderr));
      expect(proxy.code).toBe(ref.code);
      expect(proxy.stdout).toBe('');
    });

    test('throwIf in the middle of the stream: 395 after the same rows', async () => {
      const { proxy, ref } = await compare('SELECT number, throwIf(number = 5000) FROM system.numbers LIMIT 10000', ['--max_block_size=1000']);
      expect(errorCodeOf(proxy.stderr)).toBe(395);
      // The 18.16 client exits 139 after an exception mid-stream, direct or not: compare the reports, not the status.
      expect(exceptionText(proxy.stderr)).toBe(exceptionText(ref.stderr));
      expect(exceptionText(proxy.stderr)).toContain("Value passed to 'throwIf' function is non zero");
      expect(proxy.stdout).toBe(ref.stdout);
      expect(proxy.stdout.split('\n').length - 1).toBe(5000); // five whole blocks reached the client first
    });

    test('syntax error found by the client: 62', async () => {
      const { proxy, ref } = await compare('SELEC 1');
      expect(errorCodeOf(proxy.stderr)).toBe(62);
      expect(normalizeError(proxy.stderr)).toBe(normalizeError(ref.stderr));
      expect(proxy.code).toBe(ref.code);
    });

    test('syntax error found by the server (max_query_size): 62', async () => {
      const { proxy, ref } = await compare('SELECT 1 + 2 + 3 + 4 + 5 + 6', ['--max_query_size=10']);
      expect(errorCodeOf(proxy.stderr)).toBe(62);
      expect(exceptionText(proxy.stderr)).toContain('Max query size exceeded');
      expect(normalizeError(proxy.stderr)).toBe(normalizeError(ref.stderr));
      expect(proxy.code).toBe(ref.code);
    });

    test('the session works after an exception (same --multiquery connection)', async () => {
      const script = 'SELECT 1; SELECT * FROM default.no_such_table; SELECT 2';
      const [p, r] = await Promise.all([
        runClient(gh.port, [...authArgs(user), '--multiquery', '--ignore-error', '--query', script], ''),
        runClient(readerPort, [...authArgs(direct), '--multiquery', '--ignore-error', '--query', script], ''),
      ]);
      expect(r.stdout).toBe('1\n2\n');
      expect(p.stdout).toBe(r.stdout);
      expect(errorCodeOf(p.stderr)).toBe(60);
      expect(normalizeError(p.stderr)).toBe(normalizeError(r.stderr));
    });
  });

  /** Runs clickhouse-benchmark against the proxy and returns the last "Queries executed" count and QPS. */
  async function benchmark(queries: string, extra: string[]): Promise<{ executed: number; qps: number }> {
    const res = await runProcess(
      'clickhouse-benchmark',
      '/usr/bin/clickhouse-benchmark',
      ['--host', '127.0.0.1', '--port', String(gh.port), ...authArgs(user), ...extra],
      { stdin: queries, timeoutMs: 90_000 },
    );
    const text = res.stdout + res.stderr;
    // 18.16 prints its report on stderr: "Queries executed: 200." (with several queries on stdin
    // "Queries executed: 1000 (25000.000%)."), then "QPS: 449.526, RPS: ..." and percentiles. A failed query
    // prints "An error occurred while processing query" / "DB::Exception" and stops the run.
    expect({ code: res.code, timedOut: res.timedOut, errors: text.match(/.*(Exception|error occurred).*/gi) }).toEqual({
      code: 0,
      timedOut: false,
      errors: null,
    });
    const counts = [...text.matchAll(/Queries executed: (\d+)/g)].map((m) => Number(m[1]));
    const qps = [...text.matchAll(/QPS: ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(counts.length).toBeGreaterThan(0);
    expect(qps.length).toBeGreaterThan(0);
    return { executed: counts[counts.length - 1], qps: qps[qps.length - 1] };
  }

  test('clickhouse-benchmark: 200 × SELECT 1 at concurrency 8, no errors', async () => {
    const r = await benchmark('SELECT 1\n', ['-i', '200', '-c', '8']);
    expect(r.executed).toBe(200);
    expect(r.qps).toBeGreaterThan(0);
    process.stdout.write(`[proxy-clients ${mode.proxyUser(cluster).name}] clickhouse-benchmark SELECT 1 c=8: QPS ${r.qps}\n`);
  }, 100_000);

  test('clickhouse-benchmark: 1000 mixed queries (results up to 20,000 rows) at concurrency 32, no errors', async () => {
    const queries = [
      'SELECT 1',
      'SELECT count() FROM (SELECT number FROM system.numbers LIMIT 100000)',
      'SELECT * FROM system.numbers LIMIT 20000',
      'SELECT name FROM gatehouse_meta.node',
    ].join('\n');
    const r = await benchmark(queries + '\n', ['-i', '1000', '-c', '32']);
    expect(r.executed).toBe(1000);
    process.stdout.write(`[proxy-clients ${mode.proxyUser(cluster).name}] clickhouse-benchmark mixed c=32: QPS ${r.qps}\n`);
  }, 100_000);

  describe('raw native client (src/protocol codec over a socket)', () => {
    let raw: RawNativeClient;
    afterEach(() => raw?.close());

    test('Ping → Pong before and after a query, on the same connection', async () => {
      raw = await RawNativeClient.connect(gh.port, user);
      expect(raw.revision).toBe(CLIENT_REVISION);
      expect(raw.hello.serverName).toBe('ClickHouse');
      expect(await raw.ping()).toBe(ServerCode.Pong);
      expect(await raw.ping()).toBe(ServerCode.Pong);
      const q = await raw.query('SELECT 1 AS x, name FROM gatehouse_meta.node');
      expect(q.exception).toBeUndefined();
      expect(q.rows).toHaveLength(1);
      expect(q.rows[0][0]).toBe(1);
      expect(['reader1', 'reader2']).toContain(q.rows[0][1]);
      expect(q.codes[q.codes.length - 1]).toBe(ServerCode.EndOfStream);
      expect(await raw.ping()).toBe(ServerCode.Pong);
      // after an exception too
      const bad = await raw.query('SELECT * FROM default.no_such_table');
      expect(bad.exception?.exceptions[0].code).toBe(60);
      expect(await raw.ping()).toBe(ServerCode.Pong);
      const again = await raw.query('SELECT 42');
      expect(again.rows).toEqual([[42]]);
    });

    test('TablesStatusRequest gets the same TablesStatusResponse as a direct connection', async () => {
      const tables = [
        { database: 'gatehouse_meta', table: 'node' },
        { database: 'default', table: 'no_such_table' },
        { database: 'system', table: 'one' },
      ];
      const ask = async (c: RawNativeClient) => {
        c.sendPacket({ code: ClientCode.TablesStatusRequest, tables });
        const p = await c.next();
        expect(p.code).toBe(ServerCode.TablesStatusResponse);
        return p.packet as ServerTablesStatusResponse;
      };
      raw = await RawNativeClient.connect(gh.port, user);
      const viaProxy = await ask(raw);
      const ref = await RawNativeClient.connect(readerPort, direct);
      let directResp: ServerTablesStatusResponse;
      try {
        directResp = await ask(ref);
      } finally {
        ref.close();
      }
      expect(viaProxy).toEqual(directResp);
      // missing tables are omitted; nothing in the sandbox is replicated
      expect(viaProxy.tables.map((t) => `${t.database}.${t.table}:${t.isReplicated}`).sort()).toEqual([
        'gatehouse_meta.node:false',
        'system.one:false',
      ]);
      // the connection stays usable for queries and pings
      expect((await raw.query('SELECT 7')).rows).toEqual([[7]]);
      expect(await raw.ping()).toBe(ServerCode.Pong);
    });
  });
});
