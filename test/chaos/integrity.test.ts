/**
 * Issue 8, integrity: concurrent INSERTs through the proxy, each one block carrying a unique batch id, with clients
 * aborting at random points (before their data, in the middle of the Data packet, after the block but before the
 * end of data, while waiting for the answer). Afterwards, on the writer directly: every INSERT the client saw
 * succeed is there exactly once, and every other one is absent or complete (ClickHouse writes a block as a whole,
 * or not at all; the proxy adds no partial write of its own).
 */
import { randomUUID } from 'node:crypto';
import { ClientCode, encodeBlock, encodeBlockPacket, ServerCode, Writer, type ServerException } from '../../src/protocol';
import { httpQuery, startSandboxCluster, type SandboxCluster } from '../helpers';
import { assertRecovered, inParallel, loggedIn, sleep, startChaosProxy, type ChaosProxy } from './harness';
import { Rng } from './mutate';
import { record } from './results';
import { SIZES_NOW as N, testTimeoutMs } from './scale';

const TABLE = 'chaos.ins';
const PASSWORD_ENV = 'GH_CHAOS_APP_PASSWORD';
const APP_PASSWORD = `app-${randomUUID()}`;
const SEED = Number(process.env.GATEHOUSE_CHAOS_SEED ?? 20240608) + 100;

let cluster: SandboxCluster;
let proxy: ChaosProxy;

beforeAll(async () => {
  cluster = await startSandboxCluster({ readers: 1 });
  await httpQuery(cluster.writer.httpPort, 'CREATE DATABASE IF NOT EXISTS chaos');
  await httpQuery(cluster.writer.httpPort, `CREATE TABLE ${TABLE} (batch String, seq UInt32) ENGINE = MergeTree() ORDER BY batch`);
  proxy = await startChaosProxy(
    {
      writer: `127.0.0.1:${cluster.writer.tcpPort}`,
      readers: cluster.readers.map((r) => `127.0.0.1:${r.tcpPort}`),
      users: [{ name: 'app', password_env: PASSWORD_ENV }],
      read_user: cluster.users.reader,
      write_user: cluster.users.writer,
    },
    { user: 'app', password: APP_PASSWORD },
    { [PASSWORD_ENV]: APP_PASSWORD },
  );
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

/** Where the client goes away (none: it waits for the answer). */
type Abort = 'none' | 'before-data' | 'mid-data' | 'before-end-of-data' | 'mid-wait';
const ABORTS: Abort[] = ['none', 'none', 'before-data', 'mid-data', 'before-end-of-data', 'mid-wait'];

interface Outcome {
  batch: string;
  rows: number;
  abort: Abort;
  /** What the client saw: EndOfStream, an Exception, or nothing (it left). */
  seen: 'ok' | 'exception' | 'left' | 'closed';
  code?: number;
}

/** Waits for the server's header block (the INSERT's data phase is open) or the end of the exchange. */
async function nextRelevant(c: Awaited<ReturnType<typeof loggedIn>>) {
  for (;;) {
    const p = await c.next(30_000);
    if (!p || p.code === ServerCode.Data || p.code === ServerCode.Exception || p.code === ServerCode.EndOfStream) return p;
  }
}

async function oneInsert(rng: Rng): Promise<Outcome> {
  const batch = randomUUID();
  const rows = 1 + rng.int(5_000);
  const abort = ABORTS[rng.int(ABORTS.length)];
  const out: Outcome = { batch, rows, abort, seen: 'left' };
  const c = await loggedIn(proxy.gh.port, proxy.user, proxy.password);
  try {
    c.query(`INSERT INTO ${TABLE} (batch, seq) VALUES`);
    const header = await nextRelevant(c);
    if (!header) return { ...out, seen: 'closed' };
    if (header.code === ServerCode.Exception) return { ...out, seen: 'exception', code: (header.packet as ServerException).exceptions[0].code };
    if (abort === 'before-data') return out;
    const rev = c.state.revision;
    const block = new Writer();
    encodeBlock(block, { columns: [{ name: 'batch', type: 'String', values: Array(rows).fill(batch) }, { name: 'seq', type: 'UInt32', values: Array.from({ length: rows }, (_, i) => i) }] }, rev);
    const data = new Writer();
    encodeBlockPacket(data, ClientCode.Data, '', block.view(), null);
    const bytes = data.toBuffer();
    if (abort === 'mid-data') {
      c.send(bytes.subarray(0, 1 + rng.int(bytes.length - 1)));
      await sleep(rng.int(50));
      return out;
    }
    c.send(bytes);
    if (abort === 'before-end-of-data') {
      await sleep(rng.int(50));
      return out;
    }
    const empty = new Writer();
    encodeBlock(empty, { columns: [] }, rev);
    const end = new Writer();
    encodeBlockPacket(end, ClientCode.Data, '', empty.view(), null);
    c.send(end.toBuffer());
    if (abort === 'mid-wait') {
      await sleep(rng.int(20));
      return out;
    }
    const last = await nextRelevant(c);
    if (!last) return { ...out, seen: 'closed' };
    if (last.code === ServerCode.Exception) return { ...out, seen: 'exception', code: (last.packet as ServerException).exceptions[0].code };
    // Data after the block would be a protocol surprise; EndOfStream is success.
    return { ...out, seen: last.code === ServerCode.EndOfStream ? 'ok' : 'closed' };
  } finally {
    // An abort is a destroyed socket (no Cancel, no FIN handshake courtesy).
    c.close();
  }
}

it(`${N.inserts} concurrent INSERTs with random aborts: successes exactly once, the rest absent or whole`, async () => {
  const rng = new Rng(SEED);
  const t0 = Date.now();
  const outcomes = await inParallel(Array.from({ length: N.inserts }), N.insertConcurrency, () => oneInsert(rng));
  const seconds = (Date.now() - t0) / 1000;
  const pools = await assertRecovered(proxy, 30_000);
  const tsv = await httpQuery(cluster.writer.httpPort, `SELECT batch, count(), uniqExact(seq), max(seq) FROM ${TABLE} GROUP BY batch FORMAT TSV`);
  const onWriter = new Map<string, { count: number; uniq: number; max: number }>();
  for (const line of tsv.split('\n').filter(Boolean)) {
    const [b, count, uniq, max] = line.split('\t');
    onWriter.set(b, { count: Number(count), uniq: Number(uniq), max: Number(max) });
  }
  const problems: string[] = [];
  const tally: Record<string, { n: number; present: number }> = {};
  for (const o of outcomes) {
    const w = onWriter.get(o.batch);
    const key = `${o.abort}/${o.seen}`;
    tally[key] ??= { n: 0, present: 0 };
    tally[key].n++;
    if (w) tally[key].present++;
    const whole = w !== undefined && w.count === o.rows && w.uniq === o.rows && w.max === o.rows - 1;
    if (o.seen === 'ok' && !whole) problems.push(`succeeded but ${JSON.stringify(w ?? null)} on the writer: ${JSON.stringify(o)}`);
    if (o.seen !== 'ok' && w && !whole) problems.push(`partial batch: ${JSON.stringify(w)} for ${JSON.stringify(o)}`);
    // A client that left before its block was complete cannot have any row written.
    if ((o.abort === 'before-data' || o.abort === 'mid-data') && w) problems.push(`rows of an unsent block: ${JSON.stringify(o)}`);
  }
  const unknown = [...onWriter.keys()].filter((b) => !outcomes.some((o) => o.batch === b));
  record('integrity-inserts', { seed: SEED, inserts: N.inserts, concurrency: N.insertConcurrency, seconds, tally, batchesOnWriter: onWriter.size, problems: problems.length, poolsIdleAfterMs: pools.tookMs });
  expect(problems).toEqual([]);
  expect(unknown).toEqual([]);
  // Enough of each kind happened for the claim to mean something.
  expect(outcomes.filter((o) => o.seen === 'ok').length).toBeGreaterThan(N.inserts / 10);
}, testTimeoutMs(60_000, 1_800_000));
