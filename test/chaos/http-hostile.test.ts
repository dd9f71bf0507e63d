/**
 * Hostile input on the HTTP port: mutated requests (plain, gzip, ClickHouse-framed and chunked bodies, pipelined
 * keep-alive requests), random bytes, compressed bodies built to cost memory (a gzip bomb, a frame header claiming
 * 1 GiB), oversized headers, and clients that stop in the middle of a body. All over real sockets against
 * `gatehouse serve --http` in front of the real sandbox cluster. After each: the proxy is up, HTTP and native
 * queries work, no backend query is left running, memory is bounded. Sizes: scale.ts (GATEHOUSE_CHAOS_SCALE).
 */
import { gzipSync } from 'node:zlib';
import { CompressionMethod, encodeFrame } from '../../src/protocol';
import { httpQuery, startSandboxCluster, type SandboxCluster } from '../helpers';
import { assertRecovered, inParallel, mb, rawExchange, sleep, startChaosProxy, type ChaosProxy } from './harness';
import { mutatePacket, Rng } from './mutate';
import { record } from './results';
import { SIZES_NOW as N, testTimeoutMs } from './scale';

const SEED = Number(process.env.GATEHOUSE_CHAOS_SEED ?? 20240608) + 100;
/** Bytes that show an error of the proxy's own code reached a client (a bug, never a client's fault). */
const INTERNAL = /TypeError|RangeError|ReferenceError|Cannot read propert|is not a function|undefined is not/;

let cluster: SandboxCluster;
let proxy: ChaosProxy;

const httpPort = (): number => proxy.gh.httpPort!;

beforeAll(async () => {
  cluster = await startSandboxCluster({ readers: 1 });
  await httpQuery(cluster.writer.httpPort, 'CREATE DATABASE IF NOT EXISTS chaos');
  await httpQuery(cluster.writer.httpPort, 'CREATE TABLE IF NOT EXISTS chaos.t (x UInt32, s String) ENGINE = Memory');
  proxy = await startChaosProxy(
    {
      writer: `127.0.0.1:${cluster.writer.tcpPort}`,
      readers: cluster.readers.map((r) => `127.0.0.1:${r.tcpPort}`),
      // Pass-through: the requests log in as `default`; fuzzed credentials must not block the test's own address.
      login_limit: { max_failures: 1_000_000 },
      http: {
        listen: '127.0.0.1:0',
        // Few backend connections: a request that leaks one soon blocks the write afterEach sends.
        backend_connections: 4,
        backend_ports: { writer: cluster.writer.httpPort, reader1: cluster.readers[0]!.httpPort },
      },
    },
    { user: 'default', password: '' },
  );
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

/** A raw request: head lines (Host added), then the body as given. */
function request(head: string[], body: Buffer | string = ''): Buffer {
  return Buffer.concat([Buffer.from(`${head[0]}\r\nHost: gatehouse\r\n${head.slice(1).map((h) => `${h}\r\n`).join('')}\r\n`), Buffer.from(body)]);
}

function post(path: string, body: Buffer | string, headers: string[] = []): Buffer {
  return request([`POST ${path} HTTP/1.1`, `Content-Length: ${Buffer.byteLength(body)}`, ...headers], body);
}

/** Requests a client may send: each kind of body the proxy reads or decodes. */
function templates(): Buffer[] {
  const frame = encodeFrame(Buffer.from('SELECT number, toString(number) FROM numbers(100)'), CompressionMethod.LZ4);
  const chunked = 'SELECT 1 FORMAT JSONEachRow';
  return [
    request(['GET /?query=SELECT%20number%20FROM%20numbers(10) HTTP/1.1']),
    post('/', 'SELECT name FROM gatehouse_meta.node'),
    post('/?default_format=JSONEachRow', gzipSync('SELECT number, toString(number) AS s FROM numbers(50)'), ['Content-Encoding: gzip']),
    post('/?decompress=1', frame),
    post('/?query=INSERT%20INTO%20chaos.t%20FORMAT%20TSV', '1\tone\n2\ttwo\n'),
    post('/', gzipSync('INSERT INTO chaos.t FORMAT TSV\n3\tthree\n'), ['Content-Encoding: gzip']),
    request(['POST / HTTP/1.1', 'Transfer-Encoding: chunked'], `${chunked.length.toString(16)}\r\n${chunked}\r\n0\r\n\r\n`),
    Buffer.concat([post('/', 'SELECT 1'), post('/', 'SELECT 2'), request(['GET /ping HTTP/1.1'])]),
  ];
}

/** Queries still running on the backends, other than this lookup. */
async function backendQueries(): Promise<number> {
  let n = 0;
  for (const node of cluster.nodes) {
    n += Number((await httpQuery(node.httpPort, "SELECT count() FROM system.processes WHERE query NOT LIKE '%system.processes%'")).trim());
  }
  return n;
}

/**
 * A read and a write through the HTTP port answer (the native port too, through assertRecovered): each backend's
 * HTTP connections are free for new requests.
 */
async function assertHttpServes(): Promise<void> {
  const ask = async (body: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${httpPort()}/`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    return res.text();
  };
  expect(await ask('SELECT 40 + 2')).toBe('42\n');
  expect(await ask('INSERT INTO chaos.t VALUES (42, \'check\')')).toBe('');
}

afterEach(async () => {
  await assertHttpServes();
  await assertRecovered(proxy);
  // Whatever reached a backend has ended there (the kill of cut requests included).
  const deadline = Date.now() + 15_000;
  while ((await backendQueries()) > 0 && Date.now() < deadline) await sleep(200);
  expect(await backendQueries()).toBe(0);
}, 60_000);

describe('the HTTP port under hostile input', () => {
  it(`${N.fuzzSockets} mutated requests (plain, gzip, framed, chunked, pipelined): an answer or a close, never a crash`, async () => {
    const rng = new Rng(SEED);
    const base = templates();
    const cases = Array.from({ length: N.fuzzSockets }, () => mutatePacket(base[rng.int(base.length)]!, rng));
    const rss0 = proxy.gh.rssBytes();
    const outcome = { answered: 0, closedByProxy: 0, leftOpen: 0, internal: 0 };
    const internal: string[] = [];
    await inParallel(cases, N.socketConcurrency, async (c) => {
      const out = await rawExchange(httpPort(), [c.bytes], { waitMs: 300 });
      if (out.bytes.subarray(0, 9).toString('latin1') === 'HTTP/1.1 ') outcome.answered++;
      if (out.closedAfterMs !== null) outcome.closedByProxy++;
      else outcome.leftOpen++;
      const text = out.bytes.toString('latin1');
      if (INTERNAL.test(text)) {
        outcome.internal++;
        if (internal.length < 5) internal.push(`${c.kind}: ${text.slice(0, 300)}`);
      }
    });
    await sleep(500);
    const growth = mb(proxy.gh.rssBytes() - rss0);
    record('http-fuzz-sockets', { seed: SEED, cases: N.fuzzSockets, ...outcome, rssGrowthMb: growth });
    expect(internal).toEqual([]);
    expect(proxy.gh.process.running).toBe(true);
    // Most mutations still make a request node:http answers (400 for a broken one, ClickHouse's answer otherwise).
    expect(outcome.answered).toBeGreaterThan(N.fuzzSockets * 0.5);
    expect(growth).toBeLessThan(150);
  }, testTimeoutMs(60_000, 1_800_000));

  it(`${N.randomByteSockets} connections of random bytes are answered 400 or closed`, async () => {
    const rng = new Rng(SEED + 1);
    const inputs = Array.from({ length: N.randomByteSockets }, () => rng.bytes(1 + rng.int(4096)));
    let refused = 0;
    await inParallel(inputs, N.socketConcurrency, async (b) => {
      const out = await rawExchange(httpPort(), [b], { waitMs: 300 });
      if (out.bytes.toString('latin1').startsWith('HTTP/1.1 400') || out.closedAfterMs !== null) refused++;
    });
    record('http-random-bytes', { seed: SEED + 1, connections: N.randomByteSockets, refused });
    expect(refused).toBeGreaterThan(N.randomByteSockets * 0.9);
  }, testTimeoutMs(30_000, 1_800_000));

  it('a gzip bomb (50 MiB of query text in 50 KB) and a frame header claiming 1 GiB: answered by the backend, memory flat', async () => {
    const rss0 = proxy.gh.rssBytes();
    const bomb = gzipSync(Buffer.concat([Buffer.from('SELECT 1 -- '), Buffer.alloc(50 << 20, 0x41)]));
    // Connection: close, so that the exchange ends with the answer instead of the keep-alive timeout.
    const bombed = await rawExchange(httpPort(), [post('/', bomb, ['Content-Encoding: gzip', 'Connection: close'])], { waitMs: 20_000 });
    expect(`bomb: ${bombed.bytes.toString('latin1').slice(0, 200)}`).toMatch(/^bomb: HTTP\/1\.1 [2-5]\d\d /);
    // A frame that claims 1 GiB compressed (past limits.max_compressed_frame_bytes) and sends 100 bytes of it.
    const header = Buffer.alloc(25);
    header[16] = CompressionMethod.LZ4;
    header.writeUInt32LE(1 << 30, 17);
    header.writeUInt32LE(1 << 30, 21);
    const claimed = await rawExchange(httpPort(), [post('/?decompress=1', Buffer.concat([header, Buffer.alloc(100, 7)]), ['Connection: close'])], { waitMs: 20_000 });
    expect(`frame: ${claimed.bytes.toString('latin1').slice(0, 200)}`).toMatch(/^frame: HTTP\/1\.1 [2-5]\d\d /);
    await sleep(500);
    const growth = mb(proxy.gh.rssBytes() - rss0);
    record('http-compression-bombs', { bombBytes: bomb.length, rssGrowthMb: growth });
    expect(growth).toBeLessThan(40);
  }, 60_000);

  it('a 1 MiB header is refused (431), and a client that stops mid-body is cleaned up once it goes', async () => {
    const huge = await rawExchange(httpPort(), [request(['GET /?query=SELECT%201 HTTP/1.1', `X-Pad: ${'a'.repeat(1 << 20)}`])], { waitMs: 5_000 });
    expect(huge.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 431 /);
    // Bodies that stop half-way: plain, gzip (the decoder waits for more), and a long INSERT already streaming to the
    // writer. The clients leave after 1 s; afterEach then checks that nothing is left on the proxy or the backends.
    const rows = Buffer.from(Array.from({ length: 50_000 }, (_, i) => `${i}\tx${i}\n`).join(''));
    const halfInsert = Buffer.concat([Buffer.from('INSERT INTO chaos.t FORMAT TSV\n'), rows]);
    const gz = gzipSync(halfInsert);
    const stopped = [
      request(['POST / HTTP/1.1', `Content-Length: ${halfInsert.length * 2}`], halfInsert),
      request(['POST / HTTP/1.1', 'Content-Encoding: gzip', `Content-Length: ${gz.length + 1000}`], gz.subarray(0, gz.length - 10)),
      request(['POST / HTTP/1.1', 'Content-Length: 1000'], 'SELECT 1'),
    ];
    const outs = await Promise.all(stopped.map((b) => rawExchange(httpPort(), [b], { waitMs: 1_000 })));
    record('http-stopped-bodies', { answeredBeforeLeaving: outs.filter((o) => o.bytes.length > 0).length });
    // None of these inserted anything: ClickHouse applies an HTTP INSERT only when its body is complete.
    await sleep(1_000);
    expect(Number((await httpQuery(cluster.writer.httpPort, "SELECT count() FROM chaos.t WHERE s LIKE 'x%'")).trim())).toBe(0);
  }, 60_000);
});
