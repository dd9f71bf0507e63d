/**
 * A query costs the backend one wake-up: the Query and the empty Data block that follows it (the end of the client's
 * external tables, sent with every Query) leave the proxy in one write. They used to leave in two, the Query at the
 * end of the tick and the block a microtask later, so ClickHouse read the Query, went back to poll, and woke again
 * for the block. Seen on the wire here through a relay between the proxy and ClickHouse, which records each read.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runClient, startSandboxCluster, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { startRelay, type Relay } from '../helpers/relay';

let cluster: SandboxCluster;
let relay: Relay;
let gh: Gatehouse;
/** One backend connection for everyone: a client's Query waits for it (the asynchronous checkout). */
let ghOneConn: Gatehouse;
let tmpDir: string;

/**
 * The empty Data block uncompressed, at any revision with block info (ClickHouse src/Core/BlockInfo.cpp): code 2,
 * table name '', field 1 is_overflows 0, field 2 bucket_num -1, end of fields, 0 columns, 0 rows.
 */
const EMPTY_DATA = Buffer.from([0x02, 0x00, 0x01, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00]);
const QUERY = 0x01;

beforeAll(async () => {
  cluster = await startSandboxCluster({ readers: 0 });
  relay = await startRelay(cluster.writer.tcpPort);
  gh = await startGatehouse(['--writer', `127.0.0.1:${relay.port}`]);
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-writes-'));
  const file = path.join(tmpDir, 'one-conn.yaml');
  fs.writeFileSync(file, [`writer: "127.0.0.1:${relay.port}"`, 'pool:', '  max_size: 1', '  min_idle: 1'].join('\n'));
  ghOneConn = await startGatehouse(['--config', file]);
}, 60_000);

afterAll(async () => {
  await gh?.stop();
  await ghOneConn?.stop();
  await relay?.close();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  await cluster?.stop();
});

/** What the proxy wrote to ClickHouse, one entry per read of the relay, from the first Query on. */
function backendReads(): Buffer[] {
  const c2s = relay.chunks.filter((c) => c.dir === 'c2s').map((c) => c.data);
  const first = c2s.findIndex((d) => d[0] === QUERY);
  return first < 0 ? [] : c2s.slice(first);
}

test.each([
  ['a plain SELECT', [] as string[]],
  // Session settings make the proxy re-encode the Query (query-rewrite.ts): the same single write.
  ['a SELECT after a session SET', ['--multiquery', '--query', 'SET max_threads = 1; SELECT 1']],
])('%s: each Query reaches ClickHouse in the same read as its empty Data block', async (_name, args) => {
  relay.chunks.length = 0;
  for (let i = 0; i < 5; i++) {
    const r = await runClient(gh.port, ['--compression', '0', ...(args.length ? args : ['--query', 'SELECT 1'])]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1\n');
  }
  const reads = backendReads();
  const queries = reads.filter((d) => d[0] === QUERY);
  // The client's five, and the proxy's own (the pool's first look at the backend, the check of a SET's value).
  expect(queries.filter((d) => d.includes('ClickHouse client'))).toHaveLength(5);
  for (const d of queries) expect(d.subarray(d.length - EMPTY_DATA.length)).toEqual(EMPTY_DATA);
  // No block arrives on its own.
  expect(reads.filter((d) => d[0] === EMPTY_DATA[0])).toEqual([]);
}, 60_000);

test('a Query that waited for the pool\'s one connection also reaches ClickHouse with its empty Data block', async () => {
  relay.chunks.length = 0;
  const runs = await Promise.all(
    Array.from({ length: 6 }, () => runClient(ghOneConn.port, ['--compression', '0', '--query', 'SELECT sleep(0.05)'])),
  );
  for (const r of runs) {
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0\n');
  }
  const reads = backendReads();
  const queries = reads.filter((d) => d[0] === QUERY && d.includes('ClickHouse client'));
  expect(queries).toHaveLength(6);
  for (const d of queries) expect(d.subarray(d.length - EMPTY_DATA.length)).toEqual(EMPTY_DATA);
  expect(reads.filter((d) => d[0] === EMPTY_DATA[0])).toEqual([]);
}, 60_000);
