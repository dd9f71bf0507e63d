/**
 * Issue 2's live check of the codec: real clients talk to a real ClickHouse 18.16 through a byte
 * relay of the test's own, and the recorded bytes of every connection are framed completely.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientCode, ServerCode } from '../../src/protocol/codes';
import { ConnectionState, Framer, FramedPacket } from '../../src/protocol/framer';
import { ServerException } from '../../src/protocol/packets';
import { query, runClient, runPython, startClickHouse, type ClickHouseServer } from '../helpers';
import { startRelay, type Relay, type RelayChunk } from '../helpers/relay';

const ALL_TYPES_SQL = readFileSync(join(__dirname, '..', 'fixtures', 'sql', 'all-types-18.16.sql'), 'utf8');

interface Framed {
  c2s: FramedPacket[];
  s2c: FramedPacket[];
  bytes: { c2s: number; s2c: number };
}

/** Frames each relayed connection in arrival order; throws on any codec error. */
function frameConnections(chunks: RelayChunk[]): Framed[] {
  const conns = new Map<number, { client: Framer; server: Framer; out: Framed }>();
  for (const ch of chunks) {
    let c = conns.get(ch.conn);
    if (!c) {
      const state = new ConnectionState();
      c = { client: new Framer('client', state), server: new Framer('server', state), out: { c2s: [], s2c: [], bytes: { c2s: 0, s2c: 0 } } };
      conns.set(ch.conn, c);
    }
    const framer = ch.dir === 'c2s' ? c.client : c.server;
    (ch.dir === 'c2s' ? c.out.c2s : c.out.s2c).push(...framer.push(ch.data));
    c.out.c2s.push(...c.client.poll());
    c.out.s2c.push(...c.server.poll());
    c.out.bytes[ch.dir] += ch.data.length;
  }
  for (const c of conns.values()) {
    // Every byte belongs to a framed packet.
    expect(c.client.idle && c.server.idle).toBe(true);
    expect(c.out.c2s.reduce((n, p) => n + p.end - p.start, 0)).toBe(c.out.bytes.c2s);
    expect(c.out.s2c.reduce((n, p) => n + p.end - p.start, 0)).toBe(c.out.bytes.s2c);
  }
  return [...conns.values()].map((c) => c.out);
}

const rowsOf = (packets: FramedPacket[], code: number) =>
  packets.filter((p) => p.code === code).reduce((n, p) => n + (p.block?.rows ?? 0), 0);

describe('live exchanges with ClickHouse 18.16 through a byte relay are framed completely', () => {
  let server: ClickHouseServer;
  let relay: Relay;

  beforeAll(async () => {
    server = await startClickHouse({ name: 'live-capture', logLevel: 'trace' });
    relay = await startRelay(server.tcpPort);
    const created = await runClient(server.tcpPort, [
      '--allow_experimental_low_cardinality_type=1',
      '--query', `CREATE TABLE default.cap_ins (id UInt32, name String, n Nullable(String), arr Array(UInt8), lc LowCardinality(String), d Date DEFAULT toDate('2024-05-06')) ENGINE = Memory`,
    ]);
    expect(created.stderr).toBe('');
  });
  afterAll(async () => {
    await relay?.close();
    await server?.stop();
  });
  beforeEach(() => {
    relay.chunks.length = 0;
  });

  it.each([
    ['LZ4', ['--network_compression_method=lz4']],
    ['ZSTD', ['--network_compression_method=zstd']],
    ['no compression', ['--compression', '0']],
  ])('SELECT over every column type 18.16 has (%s)', async (_label, flags) => {
    const res = await runClient(relay.port, [...flags, '--max_block_size=1500', '--query', ALL_TYPES_SQL]);
    expect(res.stderr).toBe('');
    expect(res.stdout.split('\n').length - 1).toBe(5000);
    const [conn] = frameConnections(relay.chunks);
    const header = conn.s2c.find((p) => p.code === ServerCode.Data)!;
    expect(header.block!.columns.map((c) => c.type)).toEqual(
      expect.arrayContaining(['Enum16(\'x\' = -300, \'y\' = 1000)', "DateTime('Europe/Berlin')", 'LowCardinality(Nullable(String))', 'Nullable(Nothing)', 'IntervalDay']),
    );
    expect(header.block!.columns).toHaveLength(35);
    expect(rowsOf(conn.s2c, ServerCode.Data)).toBe(5000);
    expect(conn.s2c.filter((p) => p.code === ServerCode.Data).every((p) => Boolean(p.compressed) === (_label !== 'no compression'))).toBe(true);
    expect(conn.s2c[conn.s2c.length - 1].code).toBe(ServerCode.EndOfStream);
  });

  it('Nested, Array(LowCardinality) and LowCardinality(Nullable) columns stored in a table, both ways', async () => {
    const lc = ['--allow_experimental_low_cardinality_type=1'];
    const create = await runClient(server.tcpPort, [...lc, '--query',
      'CREATE TABLE default.cap_nested (k UInt32, n Nested(a UInt8, b String), alc Array(LowCardinality(String)), lcn LowCardinality(Nullable(String))) ENGINE = Memory']);
    expect(create.stderr).toBe('');
    const rows = Array.from({ length: 3000 }, (_, i) => `${i}\t[${i % 7},1]\t['x${i % 5}','y']\t['p${i % 3}','q${i % 2}','r']\t${i % 4 ? 'v' + (i % 4) : '\\N'}`);
    const ins = await runClient(relay.port, [...lc, '--query', 'INSERT INTO default.cap_nested FORMAT TSV'], rows.join('\n') + '\n');
    expect(ins.stderr).toBe('');
    const sel = await runClient(relay.port, ['--max_block_size=700', '--query', 'SELECT * FROM default.cap_nested ORDER BY k']);
    expect(sel.stderr).toBe('');
    const [insert, select] = frameConnections(relay.chunks);
    expect(rowsOf(insert.c2s, ClientCode.Data)).toBe(3000);
    expect(rowsOf(select.s2c, ServerCode.Data)).toBe(3000);
    expect(select.s2c.find((p) => p.code === ServerCode.Data)!.block!.columns.map((c) => c.type)).toEqual([
      'UInt32', 'Array(UInt8)', 'Array(String)', 'Array(LowCardinality(String))', 'LowCardinality(Nullable(String))',
    ]);
  });

  it('AggregateFunction states are opaque: the framer stops with a typed error naming the function', async () => {
    const res = await runClient(relay.port, ['--query', 'SELECT countState(1) FROM numbers(3)']);
    expect(res.stderr).toBe('');
    expect(() => frameConnections(relay.chunks)).toThrow(/AggregateFunction\(count.*opaque state/);
  });

  it('INSERT from stdin (FORMAT TSV): the client Data blocks are framed with their rows', async () => {
    const rows = Array.from({ length: 20000 }, (_, i) => `${i}\tname${i}\t${i % 2 ? '\\N' : 'v'}\t[${i % 256}]\tlc${i % 3}\t2024-01-0${(i % 9) + 1}`);
    const res = await runClient(relay.port, ['--query', 'INSERT INTO default.cap_ins FORMAT TSV'], rows.join('\n') + '\n');
    expect(res.stderr).toBe('');
    const [conn] = frameConnections(relay.chunks);
    expect(rowsOf(conn.c2s, ClientCode.Data)).toBe(20000);
    const insertBlocks = conn.c2s.filter((p) => p.code === ClientCode.Data && p.block!.rows > 0);
    expect(insertBlocks[0].block!.columns.map((c) => `${c.name} ${c.type}`)).toEqual([
      'id UInt32', 'name String', 'n Nullable(String)', 'arr Array(UInt8)', 'lc LowCardinality(String)', 'd Date',
    ]);
    expect(await query(server.tcpPort, 'SELECT count() FROM default.cap_ins')).toBe('20000\n');
  });

  it('an exception in the middle of a stream, with Log packets', async () => {
    const res = await runClient(relay.port, [
      '--max_block_size=1000', '--send_logs_level=trace',
      '--query', 'SELECT number, throwIf(number = 2500) FROM system.numbers LIMIT 10000',
    ]);
    expect(res.stderr).toContain('Code: 395');
    const [conn] = frameConnections(relay.chunks);
    const codes = conn.s2c.map((p) => p.code);
    const exceptionAt = codes.indexOf(ServerCode.Exception);
    expect(exceptionAt).toBeGreaterThan(codes.indexOf(ServerCode.Data));
    expect(rowsOf(conn.s2c.slice(0, exceptionAt), ServerCode.Data)).toBeGreaterThanOrEqual(1000);
    expect(codes).toContain(ServerCode.Log);
    const ex = conn.s2c[exceptionAt].packet as ServerException;
    expect(ex.exceptions[0].code).toBe(395);
    expect(codes.slice(exceptionAt + 1).every((c) => c === ServerCode.Log)).toBe(true);
  });

  it('totals, extremes and multiquery on one connection', async () => {
    const res = await runClient(relay.port, [
      '--multiquery', '--extremes=1',
      '--query', 'SELECT number % 3 AS k, count() AS c FROM numbers(10) GROUP BY k WITH TOTALS ORDER BY k; SELECT 1; SELECT \'two\'',
    ]);
    expect(res.stderr).toBe('');
    const [conn] = frameConnections(relay.chunks);
    const codes = conn.s2c.map((p) => p.code);
    expect(codes.filter((c) => c === ServerCode.Totals)).toHaveLength(1);
    expect(codes.filter((c) => c === ServerCode.Extremes).length).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c === ServerCode.EndOfStream)).toHaveLength(3);
    expect(conn.c2s.filter((p) => p.code === ClientCode.Query)).toHaveLength(3);
  });

  it('the Python driver (revision 54453): external table, INSERT, settings, cancel and reuse', async () => {
    const script = `
from clickhouse_driver import Client
c = Client('127.0.0.1', port=${relay.port}, settings={'max_block_size': 100})
print(c.execute('SELECT x * 10, s FROM ext ORDER BY x', external_tables=[{'name': 'ext', 'structure': [('x', 'UInt32'), ('s', 'String')], 'data': [{'x': 1, 's': 'one'}, {'x': 2, 's': 'two'}]}]))
c.execute('INSERT INTO default.cap_ins (id, name, n, arr, lc) VALUES', [(1, 'a', None, [1, 2], 'x'), (2, 'b', 'z', [], 'y')])
it = c.execute_iter('SELECT number FROM system.numbers', settings={'max_block_size': 1000})
for i, row in enumerate(it):
    if i == 2500:
        break
c.cancel()
print(c.execute('SELECT 3'))
`;
    const out = await runPython(script);
    expect(out.stdout).toContain("[(10, 'one'), (20, 'two')]");
    expect(out.stdout).toContain('[(3,)]');
    const conns = frameConnections(relay.chunks);
    const all = conns.flatMap((c) => c.c2s);
    const ext = all.find((p) => p.code === ClientCode.Data && (p.packet as { tableName: string }).tableName === 'ext');
    expect(ext!.block!.rows).toBe(2);
    expect(rowsOf(all, ClientCode.Data)).toBe(4);
  });
});
