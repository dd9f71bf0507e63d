/**
 * The official JS client (`@clickhouse/client` 1.x, HTTP) through Gatehouse's HTTP frontend (issue 7).
 *
 * First the client against ClickHouse 18.16 directly: what works, with the answers asserted (a catalogue of what this
 * client can do against this server). Then every operation runs against the node directly and through Gatehouse, in
 * pass-through mode and with backend identities, and the two outcomes (data, content type, or the error's code and
 * text) must be equal. Both sides use the same node (readers: 0), so every name an operation creates (tables,
 * session ids, query ids) is made unique per side and mode, and put back to a placeholder before comparing.
 *
 * What 18.16 does not support (listed in UNSUPPORTED below; checked, not skipped silently: the direct call must fail
 * with the error named there, and the call through the proxy must fail the same way):
 *   - query_params: the client sends `param_<name>` URL parameters; 18.16 predates them ("Unknown setting param_a", 115).
 *   - role: sent as a `role` URL parameter; 18.16 has no roles ("Unknown setting role", 115).
 *   - formats newer than 18.16 (JSONCompactEachRow, JSONStringsEachRow, JSONObjectEachRow, JSONStrings,
 *     CSVWithNamesAndTypes, CustomSeparated, Parquet, JSONEachRowWithProgress, ...): "Unknown format" (73).
 *   - insert with `columns: { except: [...] }`: the client writes `* EXCEPT (...)`, a syntax error in 18.16 (62).
 * Also different in 18.16, without an error: no X-ClickHouse-Summary or X-ClickHouse-Query-Id response header (the
 * client's `summary` is undefined), and errors come as "Code: N, e.displayText() = ..." which the client does not
 * parse into a ClickHouseError (it throws a plain Error with that text, so the code is read from the message here).
 * An error after the first bytes were sent (HTTP 200) is appended to the body; this client does not notice it, and a
 * JSONEachRow stream then ends with a "row" holding the exception text (asserted as it is, both ways).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import {
  ClickHouseLogLevel,
  createClient,
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  type DataFormat,
} from '@clickhouse/client';
import { httpQuery, startSandboxCluster, type Credentials, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
const PROXY_USER: Credentials = { name: 'app', password: 'app_pw' };

// ---- outcomes ------------------------------------------------------------------------------------------------------

/** What one operation produced: its value, or the error (ClickHouse's code read from the message, when there is one). */
type Outcome = { ok: true; value: unknown } | { ok: false; chCode: number | null; message: string };

/** 18.16's error text starts "Code: N, e.displayText() = ..."; newer servers write "Code: N. DB::Exception". */
function chCodeOf(message: string): number | null {
  const m = /Code: (\d+)[,.]/.exec(message);
  return m ? Number(m[1]) : null;
}

// ---- per-side context ----------------------------------------------------------------------------------------------

type SideName = 'direct' | 'proxy';

interface Side {
  readonly side: SideName;
  readonly url: string;
  readonly auth: { username: string; password: string };
  /** Makes names unique to this side and mode (suffix `__<tag>`); outcomes are compared with the tag replaced. */
  readonly tag: string;
}

/** One run of an operation: a default client, more clients on demand (closed afterwards), unique names. */
class Ctx {
  private readonly extra: ClickHouseClient[] = [];
  readonly client: ClickHouseClient;

  constructor(readonly side: Side) {
    this.client = this.make();
  }

  /** A client for this side with more options (compression, session_id, database, ...). */
  make(options: ClickHouseClientConfigOptions = {}): ClickHouseClient {
    const c = createClient({
      url: this.side.url,
      ...this.side.auth,
      // The client logs every failed request at ERROR; the failures here are expected and asserted.
      log: { level: ClickHouseLogLevel.OFF },
      ...options,
    });
    this.extra.push(c);
    return c;
  }

  unique(base: string): string {
    return `${base}__${this.side.tag}`;
  }

  async close(): Promise<void> {
    await Promise.all(this.extra.map((c) => c.close()));
  }
}

/** Runs an operation once on a side; the outcome has the side's tag replaced by `<side>`. */
async function outcome(op: { run: (ctx: Ctx) => Promise<unknown> }, side: Side): Promise<Outcome> {
  const ctx = new Ctx(side);
  let o: Outcome;
  try {
    o = { ok: true, value: await op.run(ctx) };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    o = { ok: false, chCode: chCodeOf(message), message };
  } finally {
    await ctx.close();
  }
  const json = JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null';
  return JSON.parse(json.split(`__${side.tag}`).join('__<side>')) as Outcome;
}

// ---- building blocks of the operations -----------------------------------------------------------------------------

/** A query read whole: the content type ClickHouse chose and the parsed (json) or raw (text) body. */
async function queryAs(
  client: ClickHouseClient,
  query: string,
  format: DataFormat,
  read: 'json' | 'text',
  extra: { clickhouse_settings?: Record<string, string | number>; query_id?: string; abort_signal?: AbortSignal } = {},
): Promise<{ contentType: unknown; data: unknown }> {
  const rs = await client.query({ query, format, ...extra });
  const contentType = rs.response_headers['content-type'];
  const data: unknown = read === 'json' ? await rs.json() : await rs.text();
  // JSON/JSONCompact carry the elapsed time, which differs per run.
  if (typeof data === 'object' && data !== null && 'statistics' in data) delete (data as { statistics?: unknown }).statistics;
  return { contentType, data };
}

/** Creates a Memory table unique to the side, runs `fill` on it, and returns fill's summary and the rows read back. */
async function withTable(ctx: Ctx, base: string, fill: (table: string) => Promise<unknown>): Promise<unknown> {
  const table = ctx.unique(base);
  await ctx.client.command({ query: `CREATE TABLE ${table} (n UInt64, s String) ENGINE = Memory` });
  const filled = await fill(table);
  const rows = await queryAs(ctx.client, `SELECT n, s FROM ${table} ORDER BY n, s`, 'JSONEachRow', 'json');
  return { filled, rows: rows.data };
}

/** The parts of an insert's answer that do not change per run (no query_id, no Date header). */
const insertSummary = (r: { executed: boolean; http_status_code?: number }) => ({ executed: r.executed, status: r.http_status_code });

/** A raw (non-object-mode) stream of text chunks, as the client wants for TSV/CSV inserts. */
const textStream = (chunks: string[]): Readable => Readable.from(chunks, { objectMode: false });

/** Reads an exec() answer's body whole; returns its length and SHA-256 (binary formats are compared byte for byte). */
async function execBytes(client: ClickHouseClient, query: string): Promise<{ bytes: number; sha256: string }> {
  const r = await client.exec({ query });
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  for await (const chunk of r.stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A SELECT of 5 000 rows over every column type 18.16 can return. */
const ALL_TYPES_SQL = fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'sql', 'all-types-18.16.sql'), 'utf8').trim();

// ---- the operations ------------------------------------------------------------------------------------------------

interface Op {
  readonly name: string;
  run(ctx: Ctx): Promise<unknown>;
  /** What 18.16 answers directly (jest expectations on the direct outcome). */
  check(o: Outcome): void;
  /**
   * 'code': compare only success or the error code, for an error 18.16 itself words differently from one identical
   * request to the next. Default 'exact'.
   */
  readonly compare?: 'exact' | 'code';
}

/** The part of an outcome the comparison looks at. */
function compared(op: Op, o: Outcome): Outcome | { ok: boolean; chCode: number | null } {
  return op.compare === 'code' ? { ok: o.ok, chCode: o.ok ? null : o.chCode } : o;
}

const okWith = (value: unknown) => (o: Outcome) => expect(o).toEqual({ ok: true, value });
const okMatching = (value: unknown) => (o: Outcome) => expect(o).toMatchObject({ ok: true, value });
const failsWith = (chCode: number | null, message: RegExp) => (o: Outcome) => {
  expect(o).toMatchObject({ ok: false, chCode });
  if (!o.ok) expect(o.message).toMatch(message);
};

const TSV = 'text/tab-separated-values; charset=UTF-8';
const PLAIN = 'text/plain; charset=UTF-8';
const CSV = 'text/csv; charset=UTF-8; header=absent';

const OPS: readonly Op[] = [
  { name: 'ping', run: (ctx) => ctx.client.ping(), check: okWith({ success: true }) },
  {
    name: 'query, JSONEachRow',
    run: (ctx) => queryAs(ctx.client, 'SELECT number, toString(number) AS s, number * 2 AS d FROM numbers(3)', 'JSONEachRow', 'json'),
    check: okMatching({
      data: [
        { number: '0', s: '0', d: '0' },
        { number: '1', s: '1', d: '2' },
        { number: '2', s: '2', d: '4' },
      ],
    }),
  },
  {
    name: 'query, JSON (meta, data, rows)',
    run: (ctx) => queryAs(ctx.client, 'SELECT number FROM numbers(2)', 'JSON', 'json'),
    check: okMatching({ data: { meta: [{ name: 'number', type: 'UInt64' }], data: [{ number: '0' }, { number: '1' }], rows: 2 } }),
  },
  {
    name: 'query, JSONCompact',
    run: (ctx) => queryAs(ctx.client, 'SELECT number, toString(number) AS s FROM numbers(2)', 'JSONCompact', 'json'),
    check: okMatching({ data: { data: [['0', '0'], ['1', '1']], rows: 2 } }),
  },
  {
    name: 'query, every 18.16 type as JSONEachRow',
    run: (ctx) => queryAs(ctx.client, ALL_TYPES_SQL, 'JSONEachRow', 'json'),
    check: (o) => {
      expect(o.ok).toBe(true);
      expect(((o as { value: { data: unknown[] } }).value.data as unknown[]).length).toBe(5000);
    },
  },
  {
    name: 'query, TabSeparated',
    run: (ctx) => queryAs(ctx.client, "SELECT number, concat('a\\tb', toString(number)) FROM numbers(3)", 'TabSeparated', 'text'),
    check: okWith({ contentType: TSV, data: '0\ta\\tb0\n1\ta\\tb1\n2\ta\\tb2\n' }),
  },
  {
    name: 'query, TabSeparatedWithNames',
    run: (ctx) => queryAs(ctx.client, 'SELECT number AS n FROM numbers(2)', 'TabSeparatedWithNames', 'text'),
    check: okWith({ contentType: TSV, data: 'n\n0\n1\n' }),
  },
  {
    name: 'query, TabSeparatedWithNamesAndTypes',
    run: (ctx) => queryAs(ctx.client, 'SELECT number AS n FROM numbers(2)', 'TabSeparatedWithNamesAndTypes', 'text'),
    check: okWith({ contentType: TSV, data: 'n\nUInt64\n0\n1\n' }),
  },
  {
    name: 'query, TabSeparatedRaw',
    run: (ctx) => queryAs(ctx.client, "SELECT 'a\\tb'", 'TabSeparatedRaw', 'text'),
    check: okWith({ contentType: TSV, data: 'a\tb\n' }),
  },
  {
    name: 'query, CSV',
    run: (ctx) => queryAs(ctx.client, "SELECT number, 'a,\"b' FROM numbers(2)", 'CSV', 'text'),
    check: okMatching({ data: '0,"a,""b"\n1,"a,""b"\n' }),
  },
  {
    name: 'query, CSVWithNames',
    run: (ctx) => queryAs(ctx.client, 'SELECT number AS n FROM numbers(2)', 'CSVWithNames', 'text'),
    check: okMatching({ data: '"n"\n0\n1\n' }),
  },
  {
    name: 'exec, RowBinary bytes',
    run: (ctx) => execBytes(ctx.client, "SELECT number, toString(number), toFloat64(number) / 3 FROM numbers(1000) FORMAT RowBinary"),
    check: okMatching({ bytes: 1000 * 8 + 10 * 2 + 90 * 3 + 900 * 4 + 1000 * 8 }),
  },
  {
    name: 'exec, Native bytes (ClickHouse native format over HTTP)',
    run: (ctx) => execBytes(ctx.client, `${ALL_TYPES_SQL} FORMAT Native`),
    check: (o) => expect(o).toMatchObject({ ok: true }),
  },
  {
    name: 'the database option',
    run: (ctx) => queryAs(ctx.make({ database: 'gatehouse_meta' }), 'SELECT name FROM node', 'JSONEachRow', 'json'),
    check: okMatching({ data: [{ name: 'writer' }] }),
  },
  {
    name: 'clickhouse_settings (max_block_size read back from system.settings)',
    run: (ctx) =>
      queryAs(ctx.client, "SELECT value FROM system.settings WHERE name = 'max_block_size'", 'JSONEachRow', 'json', {
        clickhouse_settings: { max_block_size: 1234 },
      }),
    check: okMatching({ data: [{ value: '1234' }] }),
  },
  {
    name: 'clickhouse_settings on the client (for every request)',
    run: (ctx) =>
      queryAs(ctx.make({ clickhouse_settings: { max_threads: 3 } }), "SELECT value FROM system.settings WHERE name = 'max_threads'", 'JSONEachRow', 'json'),
    check: okMatching({ data: [{ value: '3' }] }),
  },
  {
    name: 'a SETTINGS clause in the query',
    run: (ctx) => queryAs(ctx.client, "SELECT value FROM system.settings WHERE name = 'max_threads' SETTINGS max_threads = 2", 'JSONEachRow', 'json'),
    check: okMatching({ data: [{ value: '2' }] }),
  },
  {
    name: 'command: CREATE, INSERT VALUES, INSERT SELECT, ALTER DELETE is refused on Memory',
    run: (ctx) =>
      withTable(ctx, 'cmd', async (t) => {
        await ctx.client.command({ query: `INSERT INTO ${t} VALUES (1, 'a'), (2, 'b')` });
        await ctx.client.command({ query: `INSERT INTO ${t} SELECT number + 10, 'c' FROM numbers(2)` });
        // refused by the Memory engine: the error code is part of the outcome
        return ctx.client.command({ query: `ALTER TABLE ${t} DELETE WHERE n = 1` }).then(
          () => 'no error',
          (e: Error) => chCodeOf(e.message),
        );
      }),
    check: okWith({
      filled: 48, // NOT_IMPLEMENTED: mutations need a MergeTree table
      rows: [
        { n: '1', s: 'a' },
        { n: '2', s: 'b' },
        { n: '10', s: 'c' },
        { n: '11', s: 'c' },
      ],
    }),
  },
  {
    name: 'insert: JSONEachRow array, a column list, an object-mode stream',
    run: (ctx) =>
      withTable(ctx, 'ins_json', async (t) => [
        insertSummary(await ctx.client.insert({ table: t, values: [{ n: 1, s: 'a' }, { n: 2, s: 'b"\n\\' }], format: 'JSONEachRow' })),
        insertSummary(await ctx.client.insert({ table: t, values: [{ n: 3 }], format: 'JSONEachRow', columns: ['n'] })),
        insertSummary(
          await ctx.client.insert({ table: t, values: Readable.from([{ n: 4, s: 'd' }, { n: 5, s: 'ü€' }]), format: 'JSONEachRow' }),
        ),
      ]),
    check: okWith({
      filled: [
        { executed: true, status: 200 },
        { executed: true, status: 200 },
        { executed: true, status: 200 },
      ],
      rows: [
        { n: '1', s: 'a' },
        { n: '2', s: 'b"\n\\' },
        { n: '3', s: '' },
        { n: '4', s: 'd' },
        { n: '5', s: 'ü€' },
      ],
    }),
  },
  {
    name: 'insert: TSV and CSV streams, exec with a body',
    run: (ctx) =>
      withTable(ctx, 'ins_text', async (t) => {
        await ctx.client.insert({ table: t, values: textStream(['1\ta\n2\t', 'b\n']), format: 'TabSeparated' });
        await ctx.client.insert({ table: t, values: textStream(['3,"c,d"\n']), format: 'CSV' });
        const r = await ctx.client.exec({ query: `INSERT INTO ${t} FORMAT TSV`, values: textStream(['4\te\n']) });
        for await (const _ of r.stream) void _;
        return 'done';
      }),
    check: okWith({
      filled: 'done',
      rows: [
        { n: '1', s: 'a' },
        { n: '2', s: 'b' },
        { n: '3', s: 'c,d' },
        { n: '4', s: 'e' },
      ],
    }),
  },
  {
    name: 'insert of 200 000 rows from a stream',
    run: (ctx) =>
      withTable(ctx, 'ins_big', async (t) => {
        const lines = function* () {
          for (let i = 0; i < 200_000; i += 1000) {
            let s = '';
            for (let j = i; j < i + 1000; j++) s += `${j}\tv${j}\n`;
            yield s;
          }
        };
        await ctx.client.insert({ table: t, values: Readable.from(lines(), { objectMode: false }), format: 'TabSeparated' });
        const agg = await queryAs(ctx.client, `SELECT count() AS c, sum(n) AS total, uniqExact(s) AS distinct_s FROM ${t}`, 'JSONEachRow', 'json');
        // the table's rows are too many to compare whole: empty it before withTable reads it back
        await ctx.client.command({ query: `DROP TABLE ${t}` });
        await ctx.client.command({ query: `CREATE TABLE ${t} (n UInt64, s String) ENGINE = Memory` });
        return agg.data;
      }),
    check: okWith({ filled: [{ c: '200000', total: '19999900000', distinct_s: '200000' }], rows: [] }),
  },
  {
    name: 'compression: gzip response (Content-Encoding) and gzip request body',
    run: async (ctx) => {
      const c = ctx.make({ compression: { request: true, response: true } });
      const rs = await c.query({ query: 'SELECT number, toString(number) AS s FROM numbers(20000)', format: 'TabSeparated' });
      const encoding = rs.response_headers['content-encoding'];
      const text = await rs.text();
      const inserted = await withTable(ctx, 'gz', async (t) => {
        await c.insert({ table: t, values: [{ n: 7, s: 'gzip' }], format: 'JSONEachRow' });
        await c.insert({ table: t, values: textStream(['8\tgzip-tsv\n']), format: 'TabSeparated' });
      });
      return { encoding, lines: text.split('\n').length, sha256: crypto.createHash('sha256').update(text).digest('hex'), inserted };
    },
    check: okMatching({
      encoding: 'gzip',
      lines: 20001,
      inserted: {
        rows: [
          { n: '7', s: 'gzip' },
          { n: '8', s: 'gzip-tsv' },
        ],
      },
    }),
  },
  {
    name: 'session_id: a temporary table and SET live across requests',
    run: async (ctx) => {
      const s = ctx.make({ session_id: ctx.unique('sess') });
      await s.command({ query: 'CREATE TEMPORARY TABLE tmp (x UInt8)' });
      await s.command({ query: 'INSERT INTO tmp VALUES (1), (2)' });
      await s.command({ query: 'SET max_block_size = 777' });
      return [
        (await queryAs(s, 'SELECT sum(x) AS s FROM tmp', 'JSONEachRow', 'json')).data,
        (await queryAs(s, "SELECT value FROM system.settings WHERE name = 'max_block_size'", 'JSONEachRow', 'json')).data,
      ];
    },
    check: okWith([[{ s: '3' }], [{ value: '777' }]]),
  },
  {
    name: 'session_id: a concurrent request in the same session is refused',
    run: async (ctx) => {
      const s = ctx.make({ session_id: ctx.unique('locked') });
      const slow = queryAs(s, 'SELECT sleep(1)', 'JSONEachRow', 'json');
      await sleep(200);
      try {
        return await queryAs(s, 'SELECT 1', 'JSONEachRow', 'json');
      } finally {
        await slow;
      }
    },
    check: failsWith(373, /Session is locked by a concurrent client/),
  },
  {
    name: 'session_check=1 with an unknown session',
    run: (ctx) => queryAs(ctx.make({ session_id: ctx.unique('nosuch'), clickhouse_settings: { session_check: 1 } }), 'SELECT 1', 'JSONEachRow', 'json'),
    check: failsWith(372, /Session not found/),
  },
  {
    name: 'a temporary table without a session',
    run: (ctx) => ctx.client.command({ query: 'CREATE TEMPORARY TABLE tmp (x UInt8)' }),
    check: failsWith(113, /There is no session/),
  },
  {
    name: 'query_id reaches the server (a second query with the same id is refused while the first runs)',
    run: async (ctx) => {
      const id = ctx.unique('qid');
      const slow = queryAs(ctx.client, 'SELECT sleep(1)', 'JSONEachRow', 'json', { query_id: id });
      await sleep(200);
      try {
        return await queryAs(ctx.client, 'SELECT 1', 'JSONEachRow', 'json', { query_id: id });
      } finally {
        await slow;
      }
    },
    check: failsWith(216, /Query with id = qid__<side> is already running/),
  },
  {
    name: 'abort_signal',
    run: async (ctx) => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 300);
      return queryAs(ctx.client, 'SELECT sleep(2)', 'JSONEachRow', 'json', { abort_signal: ac.signal });
    },
    check: failsWith(null, /The user aborted a request/),
  },
  {
    name: 'error: unknown table',
    run: (ctx) => queryAs(ctx.client, 'SELECT * FROM no_such_table', 'JSONEachRow', 'json'),
    check: failsWith(60, /Table default\.no_such_table doesn't exist/),
  },
  {
    name: 'error: syntax',
    run: (ctx) => queryAs(ctx.client, 'SELEC 1', 'JSONEachRow', 'json'),
    check: failsWith(62, /Syntax error: failed at position 1/),
  },
  {
    name: 'error: unknown database option',
    run: (ctx) => queryAs(ctx.make({ database: 'no_such_db' }), 'SELECT 1', 'JSONEachRow', 'json'),
    check: failsWith(81, /Database no_such_db doesn't exist/),
  },
  {
    name: 'error: unknown setting in clickhouse_settings',
    run: (ctx) => queryAs(ctx.client, 'SELECT 1', 'JSONEachRow', 'json', { clickhouse_settings: { no_such_setting: 1 } }),
    check: failsWith(115, /Unknown setting no_such_setting/),
  },
  {
    name: 'error: result limit from clickhouse_settings',
    run: (ctx) =>
      queryAs(ctx.client, 'SELECT number FROM numbers(100000)', 'JSONEachRow', 'json', {
        clickhouse_settings: { max_result_rows: 10, result_overflow_mode: 'throw' },
      }),
    check: failsWith(396, /Limit for result exceeded/),
  },
  {
    name: 'error: insert of unparsable data',
    run: (ctx) => withTable(ctx, 'bad', (t) => ctx.client.insert({ table: t, values: [{ n: 'x', s: 'y' }], format: 'JSONEachRow' })),
    check: failsWith(27, /Cannot parse input/),
  },
  {
    name: 'error: insert into an unknown table',
    run: (ctx) => ctx.client.insert({ table: 'no_such_table', values: [{ n: 1 }], format: 'JSONEachRow' }),
    check: failsWith(60, /Table default\.no_such_table doesn't exist/),
  },
  {
    name: 'error before the first byte is sent (HTTP 500)',
    run: (ctx) =>
      queryAs(ctx.client, 'SELECT throwIf(number = 300000) AS x FROM numbers(1000000)', 'TabSeparated', 'text', {
        clickhouse_settings: { max_block_size: 10000 },
      }),
    check: failsWith(395, /Value passed to 'throwIf' function is non zero/),
  },
  {
    name: 'error after the first bytes were sent (HTTP 200, the exception ends the body)',
    run: async (ctx) => {
      const rs = await ctx.client.query({
        query: 'SELECT throwIf(number = 300000) AS x FROM numbers(1000000)',
        format: 'JSONEachRow',
        clickhouse_settings: { max_block_size: '10000' },
      });
      let rows = 0;
      let last = '';
      for await (const batch of rs.stream()) {
        rows += batch.length;
        if (batch.length > 0) last = batch[batch.length - 1]!.text;
      }
      return { rows, last };
    },
    check: (o) => {
      expect(o).toMatchObject({ ok: true, value: { rows: 300_001 } });
      expect((o as { value: { last: string } }).value.last).toMatch(/^Code: 395, .*throwIf/);
    },
  },
];

/** Operations 18.16 itself refuses (see the header comment); through the proxy they must fail the same way. */
const UNSUPPORTED: readonly (Op & { reason: string })[] = [
  {
    name: 'query_params',
    reason: '18.16 predates query parameters: param_<name> is taken as an unknown setting',
    run: (ctx) =>
      ctx.client.query({ query: 'SELECT {a:UInt32} + 1 AS x', format: 'JSONEachRow', query_params: { a: 41 } }).then((r) => r.json()),
    check: failsWith(115, /Unknown setting param_a/),
  },
  {
    name: 'role',
    reason: '18.16 has no roles: the role URL parameter is taken as an unknown setting',
    run: (ctx) => queryAs(ctx.make({ role: 'analyst' }), 'SELECT 1', 'JSONEachRow', 'json'),
    check: failsWith(115, /Unknown setting role/),
  },
  ...(['JSONCompactEachRow', 'JSONStringsEachRow', 'JSONObjectEachRow', 'JSONStrings', 'CSVWithNamesAndTypes', 'CustomSeparated', 'Parquet', 'JSONEachRowWithProgress'] as const).map(
    (format) => ({
      name: `format ${format}`,
      reason: `${format} is newer than 18.16`,
      run: (ctx: Ctx) => queryAs(ctx.client, 'SELECT 1', format, 'text'),
      check: failsWith(73, new RegExp(`Unknown format ${format}`)),
    }),
  ),
  {
    name: 'insert in JSONCompactEachRow',
    reason: 'JSONCompactEachRow is newer than 18.16',
    run: (ctx) => withTable(ctx, 'compact', (t) => ctx.client.insert({ table: t, values: [[1, 'a']], format: 'JSONCompactEachRow' })),
    check: failsWith(73, /Unknown format JSONCompactEachRow/),
  },
  {
    name: 'insert with columns: { except }',
    reason: 'the client writes `* EXCEPT (...)`, which 18.16 does not parse',
    run: (ctx) => withTable(ctx, 'except', (t) => ctx.client.insert({ table: t, values: [{ n: 1 }], format: 'JSONEachRow', columns: { except: ['s'] } })),
    check: failsWith(62, /Syntax error/),
    // Seen directly, for the same request: "failed at position 26 ... Expected one of: ..." and, once in a while,
    // "failed at position 25 ... Unmatched parentheses: ((".
    compare: 'code',
  },
];

// ---- the large stream with backpressure ----------------------------------------------------------------------------

const STREAM_ROWS = 3_000_000;

/** Rows read so far by the query with this id on the node, or null when it is not running. */
async function readRows(cluster: SandboxCluster, queryId: string): Promise<number | null> {
  const out = (await httpQuery(cluster.writer.httpPort, `SELECT read_rows FROM system.processes WHERE query_id = '${queryId}'`)).trim();
  return out === '' ? null : Number(out);
}

interface StreamResult {
  rows: number;
  sum: number;
  mismatches: number;
  /** The query was still running on the server after the consumer had stopped reading for a while. */
  runningWhilePaused: boolean;
  /** Rows ClickHouse had produced (read_rows) when checked during the pause, and 1 s later. */
  readRowsEarly: number | null;
  readRowsLate: number | null;
}

/**
 * Streams a result of STREAM_ROWS rows (~45 MB of TSV) with the client's row stream, stopping after the first batch
 * for 2.5 s: if backpressure reaches ClickHouse, the query is still running then and has (almost) stopped producing.
 * `onPause` runs in the middle of the pause (the proxy side samples Gatehouse's memory there).
 */
async function streamSlowly(client: ClickHouseClient, cluster: SandboxCluster, queryId: string, onPause?: () => void): Promise<StreamResult> {
  const rs = await client.query({
    query: `SELECT number, toString(number) FROM numbers(${STREAM_ROWS})`,
    format: 'TabSeparated',
    query_id: queryId,
  });
  const res: StreamResult = { rows: 0, sum: 0, mismatches: 0, runningWhilePaused: false, readRowsEarly: null, readRowsLate: null };
  let paused = false;
  for await (const batch of rs.stream()) {
    for (const row of batch) {
      const tab = row.text.indexOf('\t');
      const n = row.text.slice(0, tab);
      if (row.text.slice(tab + 1) !== n) res.mismatches++;
      res.sum += Number(n);
      res.rows++;
    }
    if (!paused) {
      paused = true;
      await sleep(1000);
      res.readRowsEarly = await readRows(cluster, queryId);
      onPause?.();
      await sleep(1000);
      res.readRowsLate = await readRows(cluster, queryId);
      res.runningWhilePaused = res.readRowsEarly !== null && res.readRowsLate !== null;
      await sleep(500);
    }
  }
  return res;
}

// ---- modes and the proxy -------------------------------------------------------------------------------------------

interface Mode {
  readonly key: string;
  readonly name: string;
  readonly flags: (c: SandboxCluster) => string[];
  /** Who the client logs in as at the proxy. */
  readonly proxyAuth: (c: SandboxCluster) => Credentials;
}

const MODES: readonly Mode[] = [
  {
    key: 'pt',
    name: 'pass-through (the client sends a ClickHouse user; no proxy users)',
    flags: () => [],
    proxyAuth: (c) => c.users.writer,
  },
  {
    key: 'id',
    name: 'backend identities (a proxy user; reads as gh_reader, writes as gh_writer)',
    flags: (c) => [
      '--user',
      `${PROXY_USER.name}:${PROXY_USER.password}`,
      '--read-user',
      `${c.users.reader.name}:${c.users.reader.password}`,
      '--write-user',
      `${c.users.writer.name}:${c.users.writer.password}`,
    ],
    proxyAuth: () => PROXY_USER,
  },
];

/** The HTTP frontend's port (started with `--http 127.0.0.1:0`). */
function httpPortOf(gh: Gatehouse): number {
  if (gh.httpPort === null) throw new Error(`no "HTTP on 127.0.0.1:PORT" in Gatehouse's output:\n${gh.output()}`);
  return gh.httpPort;
}

let cluster: SandboxCluster;
let tmp: string;

beforeAll(async () => {
  cluster = await startSandboxCluster({ readers: 0 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-http-client-'));
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const directSide = (tag: string): Side => ({
  side: 'direct',
  url: `http://127.0.0.1:${cluster.writer.httpPort}`,
  auth: { username: cluster.users.writer.name, password: cluster.users.writer.password },
  tag,
});

// ---- directly against 18.16 ----------------------------------------------------------------------------------------

describe('@clickhouse/client against ClickHouse 18.16 directly', () => {
  it.each(OPS.map((op) => [op.name, op] as const))('%s', async (_name, op) => {
    op.check(await outcome(op, directSide('ref')));
  });

  it.each(UNSUPPORTED.map((op) => [op.name, op] as const))('not in 18.16: %s', async (_name, op) => {
    op.check(await outcome(op, directSide('ref')));
  });

  it('streams a large result with backpressure reaching the server', async () => {
    const ctx = new Ctx(directSide('ref'));
    try {
      const r = await streamSlowly(ctx.client, cluster, 'stream__ref');
      expect(r).toMatchObject({ rows: STREAM_ROWS, sum: (STREAM_ROWS * (STREAM_ROWS - 1)) / 2, mismatches: 0, runningWhilePaused: true });
      expect(r.readRowsLate! - r.readRowsEarly!).toBeLessThan(500_000);
      expect(r.readRowsLate!).toBeLessThan(STREAM_ROWS);
    } finally {
      await ctx.close();
    }
  });
});

// ---- through Gatehouse, compared with direct -----------------------------------------------------------------------

describe.each(MODES.map((m) => [m.name, m] as const))('through Gatehouse: %s', (_name, mode) => {
  let gh: Gatehouse;
  let proxy: Side;
  const direct = (): Side => directSide(`d${mode.key}`);

  beforeAll(async () => {
    // The node's HTTP port is a free port picked at start-up: tell the HTTP frontend where the writer's is.
    const cfg = path.join(tmp, `gatehouse-${mode.key}.yaml`);
    fs.writeFileSync(cfg, `http:\n  backend_ports:\n    writer: ${cluster.writer.httpPort}\n`);
    gh = await startGatehouse([
      '--config',
      cfg,
      '--http',
      '127.0.0.1:0',
      '--writer',
      `127.0.0.1:${cluster.writer.tcpPort}`,
      ...mode.flags(cluster),
    ]);
    const auth = mode.proxyAuth(cluster);
    proxy = { side: 'proxy', url: `http://127.0.0.1:${httpPortOf(gh)}`, auth: { username: auth.name, password: auth.password }, tag: `p${mode.key}` };
  }, 60_000);

  afterAll(async () => {
    await gh?.stop();
  });

  it.each(OPS.map((op) => [op.name, op] as const))('%s', async (_name, op) => {
    const d = await outcome(op, direct());
    op.check(d); // the comparison proves something only if the direct answer is the expected one
    const p = await outcome(op, proxy);
    expect(compared(op, p)).toEqual(compared(op, d));
  });

  it.each(UNSUPPORTED.map((op) => [op.name, op] as const))('not in 18.16, fails the same way: %s', async (_name, op) => {
    const d = await outcome(op, direct());
    op.check(d);
    expect(compared(op, await outcome(op, proxy))).toEqual(compared(op, d));
  });

  it('a wrong password fails without echoing it', async () => {
    const side = { ...proxy, auth: { ...proxy.auth, password: 'wrong-Pw-4217' } };
    const run = (ctx: Ctx) => queryAs(ctx.client, 'SELECT 1', 'JSONEachRow', 'json');
    const p = await outcome({ run }, side);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.message).not.toContain('wrong-Pw-4217');
    if (mode.key === 'pt') {
      // pass-through: ClickHouse itself refuses, and its answer is forwarded
      const d = await outcome({ run }, { ...direct(), auth: side.auth });
      failsWith(193, /Wrong password for user gh_writer/)(d);
      expect(p).toEqual(d);
    } else {
      // a proxy user: Gatehouse refuses (ClickHouse's AUTHENTICATION_FAILED 516, or 193 as 18.16 says it)
      expect([193, 516]).toContain((p as { chCode: number | null }).chCode);
    }
  });

  it('streams a large result with backpressure: same rows, the server waits, Gatehouse does not buffer', async () => {
    const dc = new Ctx(direct());
    const pc = new Ctx(proxy);
    try {
      const d = await streamSlowly(dc.client, cluster, `stream__d${mode.key}`);
      const baseline = gh.rssBytes();
      let duringPause = 0;
      const p = await streamSlowly(pc.client, cluster, `stream__p${mode.key}`, () => (duringPause = gh.rssBytes()));
      const growthMiB = (duringPause - baseline) / MiB;
      console.log(
        `${mode.key}: direct read_rows while paused ${d.readRowsEarly} → ${d.readRowsLate}; through Gatehouse ` +
          `${p.readRowsEarly} → ${p.readRowsLate}; Gatehouse RSS growth while paused ${growthMiB.toFixed(1)} MiB`,
      );
      expect(p).toMatchObject({ rows: d.rows, sum: d.sum, mismatches: 0, runningWhilePaused: true });
      expect(d.runningWhilePaused).toBe(true);
      expect(p.readRowsLate! - p.readRowsEarly!).toBeLessThan(500_000);
      expect(p.readRowsLate!).toBeLessThan(STREAM_ROWS);
      // ~45 MB of TSV: buffering it whole would show; a few socket buffers and undici's high-water marks do not.
      expect(growthMiB).toBeLessThan(24);
    } finally {
      await Promise.all([dc.close(), pc.close()]);
    }
  });
});
