/**
 * The Python driver (Debian's python3-clickhouse-driver 0.2.5, revision 54453, no compression) through a Gatehouse
 * process in front of the sandbox cluster (issue 3): a types round trip (INSERT through the proxy, read back from
 * the writer directly), external tables, per-query settings, progress, Cancel mid-stream then reuse of the same
 * Client, and exceptions followed by new queries. Each expectation is checked against a direct connection. Two
 * suites: with backend identities, and pass-through (clients log in as `default`).
 */
import { join } from 'node:path';
import { query, runPython, startSandboxCluster, type Credentials, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

const ALL_TYPES_SQL_FILE = join(__dirname, '..', 'fixtures', 'sql', 'all-types-18.16.sql');
const PROXY_USER: Credentials = { name: 'app', password: 'app_pw' };
const DEFAULT_USER: Credentials = { name: 'default', password: '' };

interface Mode {
  readonly name: string;
  readonly tag: string;
  readonly flags: (c: SandboxCluster) => string[];
  readonly proxyUser: Credentials | null;
}

const MODES: readonly Mode[] = [
  {
    name: 'backend identities (--user/--read-user/--write-user)',
    tag: 'id',
    flags: (c) => [
      '--user',
      `${PROXY_USER.name}:${PROXY_USER.password}`,
      '--read-user',
      `${c.users.reader.name}:${c.users.reader.password}`,
      '--write-user',
      `${c.users.writer.name}:${c.users.writer.password}`,
    ],
    proxyUser: PROXY_USER,
  },
  { name: 'pass-through (no identities, clients log in as default)', tag: 'pt', flags: () => [], proxyUser: null },
];

/**
 * Common Python prelude. Connection parameters come in the GH environment variable (JSON):
 * proxy(), reader() (first reader, the read identity), writer() (the write identity) and done(x), which prints
 * the result line the test parses.
 */
const PRELUDE = String.raw`
import datetime, decimal, json, os, sys, time, uuid
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
from clickhouse_driver.protocol import ServerPacketTypes
P = json.loads(os.environ['GH'])
def _client(port, who, **kw):
    return Client('127.0.0.1', port=port, user=who['name'], password=who['password'], compression=False, **kw)
def proxy(**kw): return _client(P['proxyPort'], P['proxyUser'], **kw)
def reader(**kw): return _client(P['readerPort'], P['readUser'], **kw)
def writer(**kw): return _client(P['writerPort'], P['writeUser'], **kw)
def readers(): return [_client(p, P['readUser']) for p in P['readerPorts']]
def norm(v):
    if isinstance(v, (list, tuple)): return [norm(x) for x in v]
    if isinstance(v, (decimal.Decimal, uuid.UUID, datetime.date)): return type(v).__name__ + ':' + str(v)
    if isinstance(v, float): return repr(v)
    return v
def head(msg):
    # 18.16 appends a stack trace with load addresses, which differ between server processes
    return msg.split('Stack trace')[0]
def done(x):
    print('RESULT ' + json.dumps(x, default=str))
`;

interface PyRun {
  result: Record<string, unknown>;
  stdout: string;
  stderr: string;
}

let cluster: SandboxCluster;

beforeAll(async () => {
  cluster = await startSandboxCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe.each(MODES)('Python driver through the proxy: $name', (mode) => {
  let gh: Gatehouse;
  let readUser: Credentials;
  let writeUser: Credentials;

  beforeAll(async () => {
    gh = await startGatehouse([
      '--writer',
      `127.0.0.1:${cluster.writer.tcpPort}`,
      ...cluster.readers.flatMap((r) => ['--reader', `127.0.0.1:${r.tcpPort}`]),
      ...mode.flags(cluster),
    ]);
    readUser = mode.proxyUser ? cluster.users.reader : DEFAULT_USER;
    writeUser = mode.proxyUser ? cluster.users.writer : DEFAULT_USER;
  }, 30_000);

  afterAll(async () => {
    await gh?.stop();
  });

  async function py(body: string, timeoutMs = 60_000): Promise<PyRun> {
    const env = {
      GH: JSON.stringify({
        proxyPort: gh.port,
        proxyUser: mode.proxyUser ?? DEFAULT_USER,
        readerPort: cluster.readers[0].tcpPort,
        readerPorts: cluster.readers.map((r) => r.tcpPort),
        writerPort: cluster.writer.tcpPort,
        readUser,
        writeUser,
        tag: mode.tag,
        allTypesSql: ALL_TYPES_SQL_FILE,
      }),
    };
    const res = await runPython(PRELUDE + body, env, timeoutMs);
    const line = res.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (res.code !== 0 || !line) {
      throw new Error(`python failed (exit ${res.code}${res.timedOut ? ', timed out' : ''}):\n${res.stderr}\n${res.stdout}`);
    }
    return { result: JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>, stdout: res.stdout, stderr: res.stderr };
  }

  test('types round trip: INSERT through the proxy, read back from the writer directly', async () => {
    const { result } = await py(String.raw`
table = 'default.py_types_' + P['tag']
COLUMNS = [
    ('id', 'UInt32'), ('u8', 'UInt8'), ('u16', 'UInt16'), ('u64', 'UInt64'),
    ('i8', 'Int8'), ('i16', 'Int16'), ('i32', 'Int32'), ('i64', 'Int64'),
    ('f32', 'Float32'), ('f64', 'Float64'), ('s', 'String'), ('fs', 'FixedString(4)'),
    ('d', 'Date'), ('dt', 'DateTime'), ('ns', 'Nullable(String)'), ('nu', 'Nullable(UInt64)'),
    ('arr', 'Array(UInt32)'), ('astr', 'Array(String)'), ('anull', 'Array(Nullable(Int16))'), ('aa', 'Array(Array(UInt8))'),
    ('lc', 'LowCardinality(String)'), ('lcn', 'LowCardinality(Nullable(String))'),
    ('e8', "Enum8('a' = 1, 'b' = 2)"), ('e16', "Enum16('x' = -300, 'y' = 1000)"), ('uu', 'UUID'),
    ('dec32', 'Decimal(9, 2)'), ('dec64', 'Decimal(18, 4)'), ('dec128', 'Decimal(38, 10)'),
    ('tup', 'Tuple(UInt8, String)'),
]
STRINGS = ['', 'plain', 'строка', 'tab\there\nnew line\\', 'nul\x00byte', '😀 emoji', "quote ' \""]
def row(i):
    if i == 0:
        return (0, 0, 0, 0, -128, -32768, -2**31, -2**63, -1.5, -1e308, '', '', datetime.date(1970, 1, 2),
                datetime.datetime(1970, 1, 2, 0, 0, 0), None, None, [], [], [], [], '', None, 'a', 'x',
                uuid.UUID(int=0), decimal.Decimal('-9999999.99'), decimal.Decimal('-99999999999999.9999'),
                decimal.Decimal('-9999999999999999999999999999.9999999999'), (0, ''))
    if i == 1:
        return (1, 255, 65535, 2**64 - 1, 127, 32767, 2**31 - 1, 2**63 - 1, 3.4028234663852886e38, 1.7976931348623157e308,
                'x' * 10000, 'abcd', datetime.date(2105, 12, 31), datetime.datetime(2105, 12, 31, 23, 59, 59),
                '', 2**64 - 1, [2**32 - 1], [''], [None, -32768, 32767], [[], [255]], 'z' * 300, '', 'b', 'y',
                uuid.UUID(int=2**128 - 1), decimal.Decimal('9999999.99'), decimal.Decimal('99999999999999.9999'),
                decimal.Decimal('9999999999999999999999999999.9999999999'), (255, 'max'))
    return (
        i, i % 256, (i * 7) % 65536, (i * 0x9E3779B97F4A7C15) % 2**64,
        i % 256 - 128, (i * 31) % 65536 - 32768, (i * 100003) % 2**32 - 2**31, (i * 0x9E3779B97F4A7C15) % 2**64 - 2**63,
        (i % 1000) + 0.5, i / 7.0, STRINGS[i % len(STRINGS)] + str(i), 'f%d' % (i % 100),
        datetime.date(1970, 1, 1) + datetime.timedelta(days=i % 40000),
        datetime.datetime(2000, 1, 1) + datetime.timedelta(seconds=i * 3607),
        None if i % 3 == 0 else 'n%d' % i, None if i % 4 == 0 else i * 2**40 % 2**64,
        list(range(i % 5)), ['s%d' % j for j in range(i % 3)], [None if j % 2 else j - 5 for j in range(i % 4)],
        [[j] * j for j in range(i % 3)], 'lc%d' % (i % 7), None if i % 6 == 0 else str(i % 3),
        'a' if i % 2 else 'b', 'x' if i % 3 else 'y', uuid.UUID(int=(i * 0x0123456789abcdef0123456789abcdef) % 2**128),
        decimal.Decimal(i % 1000000) / 100, decimal.Decimal(-i) / 10000, decimal.Decimal(i * 10**12 + 7) / 10**10,
        (i % 256, 't%d' % i),
    )
rows = [row(i) for i in range(5000)]
c = proxy()
c.execute('DROP TABLE IF EXISTS ' + table)
# DDL through the proxy (routed to the writer), with a per-query setting 18.16 needs for LowCardinality columns
c.execute('CREATE TABLE %s (%s) ENGINE = MergeTree ORDER BY id' % (table, ', '.join('%s %s' % col for col in COLUMNS)),
          settings={'allow_experimental_low_cardinality_type': 1})
# no types_check: 0.2.5's check rejects Enum values given by name
inserted = c.execute('INSERT INTO %s VALUES' % table, rows)
w = writer()
back = w.execute('SELECT * FROM %s ORDER BY id' % table)
types = [t[:2] for t in w.execute('DESCRIBE TABLE ' + table)]
exists_on_readers = [r.execute("EXISTS TABLE " + table)[0][0] for r in readers()]
a, b = norm(rows), norm(back)
first_diff = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), None)
w.execute('DROP TABLE ' + table)
done({'inserted': inserted, 'count': len(back), 'firstDiff': first_diff,
      'diff': None if first_diff is None else [a[first_diff], b[first_diff]],
      'types': [list(t) for t in types], 'existsOnReaders': exists_on_readers})
`);
    expect(result.firstDiff).toBeNull();
    expect(result.count).toBe(5000);
    expect(result.inserted).toBe(5000);
    expect((result.types as string[][]).map((t) => t[1])).toContain('LowCardinality(Nullable(String))');
    expect(result.types).toHaveLength(29);
    expect(result.existsOnReaders).toEqual([0, 0]);
  }, 90_000);

  test('external tables: the same result as direct', async () => {
    const { result } = await py(String.raw`
ext = [
    {'name': 'ext_a', 'structure': [('x', 'UInt32'), ('s', 'String'), ('n', 'Nullable(Int64)'), ('arr', 'Array(UInt8)')],
     'data': [{'x': i, 's': 'v%d' % i, 'n': None if i % 3 == 0 else -i, 'arr': [i % 7] * (i % 4)} for i in range(20000)]},
    {'name': 'ext_names', 'structure': [('name', 'String')],
     'data': [{'name': 'writer'}, {'name': 'reader1'}, {'name': 'reader2'}, {'name': 'nobody'}]},
]
sql = ('SELECT count(), sum(x), uniqExact(s), count(n), sum(n), sum(length(arr)), '
       '(SELECT count() FROM ext_names WHERE name IN (SELECT name FROM gatehouse_meta.node)) FROM ext_a')
via = proxy().execute(sql, external_tables=ext)
ref = reader().execute(sql, external_tables=ext)
# an external table alone, many blocks of it
big = [{'k': i} for i in range(200000)]
via_big = proxy().execute('SELECT count(), sum(k) FROM big', external_tables=[{'name': 'big', 'structure': [('k', 'UInt64')], 'data': big}],
                          settings={'max_block_size': 1000})
done({'via': norm(via), 'ref': norm(ref), 'big': norm(via_big)})
`);
    expect(result.via).toEqual(result.ref);
    expect(result.via).toEqual([[20000, 199990000, 20000, 13333, -133326667, 30000, 1]]);
    expect(result.big).toEqual([[200000, 19999900000]]);
  }, 60_000);

  test('settings per query: applied to that query only, visible in blocks and system.settings', async () => {
    const { result } = await py(String.raw`
def blocks(c, sql, **kw):
    """Rows per non-empty Data block, counted under execute_iter."""
    sizes = []
    orig = c.receive_packet
    def counting():
        p = orig()
        if p not in (True, False) and p.type == ServerPacketTypes.DATA and p.block.num_rows > 0:
            sizes.append(p.block.num_rows)
        return p
    c.receive_packet = counting
    n = sum(1 for _ in c.execute_iter(sql, **kw))
    c.receive_packet = orig
    return n, sizes
NUMS = 'SELECT number FROM system.numbers LIMIT 10000'
MAXT = "SELECT value, changed FROM system.settings WHERE name = 'max_threads'"
BS = 'SELECT max(bs) FROM (SELECT blockSize() AS bs FROM system.numbers LIMIT 10000)'
out = {}
for name, mk in (('proxy', proxy), ('direct', reader)):
    c = mk()
    r = {}
    r['iter1000'] = blocks(c, NUMS, settings={'max_block_size': 1000})
    r['iterDefault'] = blocks(c, NUMS)
    r['iter2500'] = blocks(c, NUMS, settings={'max_block_size': 2500})
    r['bs1000'] = c.execute(BS, settings={'max_block_size': 1000})
    r['bsDefault'] = c.execute(BS)
    r['maxThreads3'] = c.execute(MAXT, settings={'max_threads': 3})
    r['maxThreadsAfter'] = c.execute(MAXT)
    # Client-level settings apply to every query of that Client
    c2 = mk(settings={'max_block_size': 4000})
    r['clientLevel'] = c2.execute(BS)
    r['clientLevelOverridden'] = c2.execute(BS, settings={'max_block_size': 300})
    out[name] = norm(r)
done(out)
`);
    const p = result.proxy as Record<string, unknown>;
    expect(p.iter1000).toEqual([10000, Array(10).fill(1000)]);
    expect(p.iterDefault).toEqual([10000, [10000]]);
    expect(p.iter2500).toEqual([10000, [2500, 2500, 2500, 2500]]);
    expect(p.bs1000).toEqual([[1000]]);
    expect(p.bsDefault).toEqual([[10000]]);
    expect(p.maxThreads3).toEqual([['3', 1]]);
    expect((p.maxThreadsAfter as unknown[][])[0][1]).toBe(0); // not left behind on a pooled backend connection
    expect(p.clientLevel).toEqual([[4000]]);
    expect(p.clientLevelOverridden).toEqual([[300]]);
    expect(result.proxy).toEqual(result.direct);
  }, 60_000);

  test('progress callbacks (execute_with_progress)', async () => {
    const { result } = await py(String.raw`
SQL = 'SELECT sum(cityHash64(number)) FROM (SELECT number FROM system.numbers LIMIT 30000000)'
out = {}
for name, mk in (('proxy', proxy), ('direct', reader)):
    c = mk()
    pr = c.execute_with_progress(SQL, settings={'interactive_delay': 5000, 'max_block_size': 10000})
    ticks = [list(t) for t in pr]
    res = pr.get_result()
    out[name] = {'ticks': len(ticks), 'monotonic': all(ticks[i][0] <= ticks[i + 1][0] for i in range(len(ticks) - 1)),
                 'last': ticks[-1] if ticks else None, 'result': norm(res), 'progressRows': c.last_query.progress.rows,
                 'profileRows': c.last_query.profile_info.rows if c.last_query.profile_info else None}
done(out)
`);
    const p = result.proxy as Record<string, unknown>;
    const d = result.direct as Record<string, unknown>;
    expect(p.ticks).toBeGreaterThan(2);
    expect(p.monotonic).toBe(true);
    expect(p.last).toEqual([30000000, 0]);
    expect(p.progressRows).toBe(30000000);
    expect(p.result).toEqual(d.result);
    expect(p.profileRows).toEqual(d.profileRows);
    expect(p.last).toEqual(d.last);
  }, 60_000);

  test('cancel mid-stream, then the same Client (same socket) runs more queries; no query left on the backends', async () => {
    const marker = `cancel-marker-${mode.tag}-${Date.now()}`;
    const { result } = await py(String.raw`
MARKER = ${JSON.stringify(marker)}
out = {}
for name, mk in (('proxy', proxy), ('direct', reader)):
    c = mk()
    c.execute('SELECT 1')
    sock = c.connection.socket.getsockname()
    it = c.execute_iter("SELECT number FROM system.numbers WHERE '%s' != ''" % MARKER, settings={'max_block_size': 1000})
    got = 0
    for row in it:
        got += 1
        if got >= 50000:
            break
    t = time.time()
    rest = c.cancel()
    cancel_ms = (time.time() - t) * 1000
    after = c.execute('SELECT 42')
    same = c.connection.socket.getsockname() == sock
    # and once more: a second cancelled stream on the same connection
    it2 = c.execute_iter("SELECT number FROM system.numbers WHERE '%s' != ''" % MARKER, settings={'max_block_size': 1000})
    for i, row in enumerate(it2):
        if i >= 5000:
            break
    c.cancel()
    again = c.execute('SELECT count() FROM (SELECT number FROM system.numbers LIMIT 123456)')
    out[name] = {'got': got, 'restIsList': isinstance(rest, list), 'cancelMs': cancel_ms, 'after': norm(after),
                 'again': norm(again), 'sameSocket': same and c.connection.socket.getsockname() == sock}
# the backends must not still run the cancelled queries
left = None
for _ in range(50):
    left = sum(r.execute("SELECT count() FROM system.processes WHERE query LIKE '%%%s%%' AND query NOT LIKE '%%system.processes%%'" % MARKER)[0][0]
               for r in readers())
    if left == 0:
        break
    time.sleep(0.1)
out['left'] = left
done(out)
`);
    const p = result.proxy as Record<string, unknown>;
    expect(p.got).toBe(50000);
    expect(p.restIsList).toBe(true);
    expect(p.after).toEqual([[42]]);
    expect(p.again).toEqual([[123456]]);
    expect(p.sameSocket).toBe(true);
    expect(p.cancelMs).toBeLessThan(5000);
    const dms = (result.direct as Record<string, number>).cancelMs;
    process.stdout.write(`[proxy-python ${mode.tag}] Cancel → EndOfStream: proxy ${Math.round(p.cancelMs as number)} ms, direct ${Math.round(dms)} ms\n`);
    expect(result.left).toBe(0);
    expect({ ...p, cancelMs: 0 }).toEqual({ ...(result.direct as Record<string, unknown>), cancelMs: 0 });
  }, 60_000);

  test('exceptions (60, 62 from the server, 395 mid-stream) are identical to direct, and a new query follows each', async () => {
    const { result } = await py(String.raw`
out = {}
for name, mk in (('proxy', proxy), ('direct', reader)):
    c = mk()
    r = []
    for sql, kw in (('SELECT * FROM default.no_such_table', {}),
                    ('SELEC 1', {}),
                    ('SELECT 1 + 2 + 3 + 4 + 5 + 6', {'settings': {'max_query_size': 10}}),
                    ('SELECT number, throwIf(number = 5000) FROM system.numbers LIMIT 10000', {'settings': {'max_block_size': 1000}})):
        rows = 0
        try:
            for _ in c.execute_iter(sql, **kw):
                rows += 1
            r.append({'sql': sql, 'error': None})
        except ServerException as e:
            r.append({'sql': sql, 'code': e.code, 'message': head(e.message), 'rowsBefore': rows})
        r.append({'next': norm(c.execute('SELECT 1 + 1'))})
    out[name] = r
done(out)
`);
    const p = result.proxy as Record<string, unknown>[];
    expect(p.filter((x) => 'code' in x).map((x) => x.code)).toEqual([60, 62, 62, 395]);
    expect(p.filter((x) => 'next' in x).map((x) => x.next)).toEqual([[[2]], [[2]], [[2]], [[2]]]);
    expect(p[6].rowsBefore).toBe(5000);
    expect(result.proxy).toEqual(result.direct);
  }, 60_000);

  test('every 18.16 column type read by the driver (with_column_types) equals the direct result', async () => {
    const { result } = await py(String.raw`
sql = open(P['allTypesSql']).read()
via = proxy().execute(sql, with_column_types=True)
ref = reader().execute(sql, with_column_types=True)
a, b = norm(via[0]), norm(ref[0])
done({'rows': len(via[0]), 'types': norm(via[1]), 'refTypes': norm(ref[1]),
      'firstDiff': next((i for i in range(len(a)) if a[i] != b[i]), None) if len(a) == len(b) else 'length'})
`);
    expect(result.rows).toBe(5000);
    expect(result.firstDiff).toBeNull();
    expect(result.types).toEqual(result.refTypes);
    expect((result.types as string[][]).length).toBe(35);
  }, 60_000);

  test('SET, USE and a database in the Hello, sent by the driver', async () => {
    const { result } = await py(String.raw`
BS = 'SELECT max(bs) FROM (SELECT blockSize() AS bs FROM system.numbers LIMIT 10000)'
out = {}
for name, mk in (('proxy', proxy), ('direct', reader)):
    c = mk()
    r = {'set': norm(c.execute('SET max_block_size = 777'))}
    r['afterSet'] = norm(c.execute(BS))
    r['afterSetOverride'] = norm(c.execute(BS, settings={'max_block_size': 100}))
    r['afterSetAgain'] = norm(c.execute(BS))
    r['use'] = norm(c.execute('USE gatehouse_meta'))
    r['afterUse'] = norm(c.execute('SELECT count(), currentDatabase() FROM node'))
    r['unknownSetting'] = None
    try:
        c.execute('SET no_such_setting_xyz = 1')
    except ServerException as e:
        r['unknownSetting'] = [e.code, head(e.message)]
    r['afterError'] = norm(mk().execute('SELECT currentDatabase()'))
    r['helloDb'] = norm(mk(database='gatehouse_meta').execute('SELECT count(), currentDatabase() FROM node'))
    out[name] = r
done(out)
`);
    const p = result.proxy as Record<string, unknown>;
    expect(p.afterSet).toEqual([[777]]);
    expect(p.afterSetOverride).toEqual([[100]]);
    expect(p.afterSetAgain).toEqual([[777]]);
    expect(p.afterUse).toEqual([[1, 'gatehouse_meta']]);
    expect(p.helloDb).toEqual([[1, 'gatehouse_meta']]);
    const d = result.direct as Record<string, unknown>;
    expect((p.unknownSetting as unknown[])[0]).toBe(115);
    expect((d.unknownSetting as unknown[])[0]).toBe(115);
    // The proxy rejects an unknown setting itself (it cannot encode it for an 18.16 backend): same code, and a
    // message naming the proxy and the setting (issue 3: proxy-made errors name the proxy).
    const msg = String((p.unknownSetting as unknown[])[1]);
    if (msg !== (d.unknownSetting as unknown[])[1]) expect(msg).toMatch(/Gatehouse.*no_such_setting_xyz/);
    expect({ ...p, unknownSetting: null }).toEqual({ ...d, unknownSetting: null });
  }, 60_000);

  test('Int64 settings set with SET keep their value (VarInt in the legacy settings format)', async () => {
    // SettingInt64 in 18.16's Settings.h: network_zstd_compression_level, http_zlib_compression_level,
    // distributed_ddl_task_timeout. SettingsCommon.h writes signed settings with writeVarInt (zig-zag).
    const { result } = await py(String.raw`
NAMES = ('network_zstd_compression_level', 'http_zlib_compression_level', 'distributed_ddl_task_timeout')
SQL = "SELECT name, value FROM system.settings WHERE name IN ('network_zstd_compression_level', 'http_zlib_compression_level', 'distributed_ddl_task_timeout') ORDER BY name"
out = {}
for name, mk in (('proxy', proxy), ('direct', reader)):
    r = {}
    for label, values in (('positive', (5, 4, 7)), ('negative', (-3, -1, -1))):
        c = mk()
        try:
            for n, v in zip(NAMES, values):
                c.execute('SET %s = %d' % (n, v))
            r[label] = norm(c.execute(SQL))
        except ServerException as e:
            r[label] = [e.code, head(e.message)]
    out[name] = r
done(out)
`);
    expect(result.direct).toEqual({
      positive: [['distributed_ddl_task_timeout', '7'], ['http_zlib_compression_level', '4'], ['network_zstd_compression_level', '5']],
      negative: [['distributed_ddl_task_timeout', '-1'], ['http_zlib_compression_level', '-1'], ['network_zstd_compression_level', '-3']],
    });
    expect(result.proxy).toEqual(result.direct);
  }, 60_000);

  test('every 18.16 setting: SET (to its current value) through the driver reads back as on a direct connection', async () => {
    const { result } = await py(String.raw`
def quoted(v):
    return "'" + v.replace('\\', '\\\\').replace("'", "\\'") + "'"
settings = reader().execute('SELECT name, value FROM system.settings ORDER BY name')
diffs = []
for name, value in settings:
    res = {}
    for label, mk in (('direct', reader), ('proxy', proxy)):
        out = None
        for lit in (value, quoted(value)):
            c = mk()
            try:
                c.execute('SET %s = %s' % (name, lit))
                out = ['ok', lit, norm(c.execute("SELECT value FROM system.settings WHERE name = %(n)s", {'n': name}))]
                break
            except ServerException as e:
                out = ['error', e.code]
        res[label] = out
    if res['direct'] != res['proxy']:
        diffs.append([name, value, res])
done({'settings': len(settings), 'diffs': diffs})
`);
    expect(result.settings).toBeGreaterThan(150);
    expect(result.diffs).toEqual([]);
  }, 90_000);

  test('a 300,000-row INSERT sent in 300 blocks (insert_block_size = 1000)', async () => {
    const { result } = await py(String.raw`
table = 'default.py_blocks_' + P['tag']
w = writer()
w.execute('DROP TABLE IF EXISTS ' + table)
w.execute('CREATE TABLE %s (id UInt64, s String, a Array(Int32)) ENGINE = MergeTree ORDER BY id' % table)
N = 300000
rows = ((i, 'row-%d' % i, [i % 7] * (i % 3)) for i in range(N))
c = proxy(settings={'insert_block_size': 1000})
c.execute('SELECT 1')
sent = []
orig_send = c.connection.send_data
def counting_send(block, *a, **kw):
    if block.num_rows > 0:
        sent.append(block.num_rows)
    return orig_send(block, *a, **kw)
c.connection.send_data = counting_send
t = time.time()
n = c.execute('INSERT INTO %s VALUES' % table, rows)
ms = (time.time() - t) * 1000
got = w.execute('SELECT count(), sum(id), sum(length(s)), sum(arraySum(a)) FROM ' + table)
exp = [N, N * (N - 1) // 2, sum(len('row-%d' % i) for i in range(N)), sum((i % 7) * (i % 3) for i in range(N))]
parts = w.execute("SELECT count() FROM system.parts WHERE database = 'default' AND table = %(t)s AND active", {'t': table.split('.')[1]})
after = c.execute('SELECT 1')
w.execute('DROP TABLE ' + table)
done({'inserted': n, 'got': list(got[0]), 'exp': exp, 'ms': ms, 'parts': parts[0][0], 'after': norm(after), 'blocks': len(sent)})
`);
    expect(result.inserted).toBe(300000);
    expect(result.got).toEqual(result.exp);
    expect(result.after).toEqual([[1]]);
    expect(result.blocks).toBe(300);
    process.stdout.write(`[proxy-python ${mode.tag}] 300k-row driver INSERT in ${result.blocks} blocks: ${Math.round(result.ms as number)} ms, ${result.parts} parts\n`);
  }, 60_000);

  test('many sequential queries on one Client (pooled backends, no leaked state)', async () => {
    const { result } = await py(String.raw`
c = proxy()
vals = [c.execute('SELECT %d, name FROM gatehouse_meta.node' % i)[0] for i in range(200)]
done({'ok': all(v[0] == i for i, v in enumerate(vals)), 'nodes': sorted(set(v[1] for v in vals))})
`);
    expect(result.ok).toBe(true);
    expect(result.nodes).toEqual(['reader1', 'reader2']); // round robin over both readers
  }, 60_000);
});

test('harness sanity: the writer is reachable directly', async () => {
  expect(await query(cluster.writer.tcpPort, 'SELECT name FROM gatehouse_meta.node')).toBe('writer\n');
});
