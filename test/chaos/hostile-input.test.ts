/**
 * Issue 8, hostile input: random bytes, mutated and truncated golden packets, oversized strings and blocks, absurd
 * Hellos, slowloris clients, thousands of idle connections and clients that never read, all over real sockets
 * against `gatehouse serve` in front of the real sandbox cluster. After each: the proxy is up, a normal client's
 * query works, the pools are back to idle and memory is bounded. Sizes: scale.ts (GATEHOUSE_CHAOS_SCALE).
 */
import { ClientCode, ConnectionState, encodeBlock, encodeBlockPacket, encodeClientPacket, Framer, ProtocolError, ServerCode, withLimits, Writer, type ServerException } from '../../src/protocol';
import { encodeSimpleQuery } from '../../src/pool';
import { startSandboxCluster, type SandboxCluster } from '../helpers';
import { NativeClient } from '../helpers/native-client';
import {
  assertRecovered,
  assertServes,
  inParallel,
  loggedIn,
  mb,
  poolGauges,
  rawExchange,
  runNative,
  sleep,
  startChaosProxy,
  type ChaosProxy,
} from './harness';
import { rawHello } from './hello';
import { fuzzCase, goldenStreams, Rng } from './mutate';
import { record } from './results';
import { SCALE, SIZES_NOW as N, testTimeoutMs } from './scale';

/** Codec limits of the proxy under test: small enough that "past the limit" is cheap to send. */
const LIMITS = { max_string_bytes: 1 << 20, max_block_bytes: 16 << 20, max_hello_string_bytes: 4096, max_rows: 1 << 24, max_columns: 1000 };
/** The 18.16 sandbox's revision: what the proxy advertises to clients (min of its cap and the backend's). */
const SERVER_REVISION = 54412;
/** The proxy's built-in default of connections.handshake_timeout_ms. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const SEED = Number(process.env.GATEHOUSE_CHAOS_SEED ?? 20240608);

let cluster: SandboxCluster;
let proxy: ChaosProxy;
const streams = goldenStreams();

beforeAll(async () => {
  cluster = await startSandboxCluster({ readers: 1 });
  proxy = await startChaosProxy(
    {
      writer: `127.0.0.1:${cluster.writer.tcpPort}`,
      readers: cluster.readers.map((r) => `127.0.0.1:${r.tcpPort}`),
      limits: LIMITS,
      // Pass-through mode (the captures log in as `default`); fuzzed user names must not block the test's own address.
      login_limit: { max_failures: 1_000_000 },
    },
    { user: 'default', password: '' },
  );
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

/** The proxy's V8 heap in use, from its process metrics. */
async function heapUsed(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.gh.adminPort}/metrics`)).text();
  const m = /^gatehouse_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  if (!m) throw new Error('no heap metric');
  return Number(m[1]);
}

afterEach(async () => {
  await assertRecovered(proxy);
}, 30_000);

describe('fuzzed packets', () => {
  it(`frames ${N.fuzzInProcess} mutated golden packets in-process: only typed protocol errors`, () => {
    const rng = new Rng(SEED);
    const limits = withLimits({ maxStringBytes: LIMITS.max_string_bytes, maxBlockBytes: LIMITS.max_block_bytes, maxRows: LIMITS.max_rows, maxColumns: LIMITS.max_columns });
    const outcome = { framed: 0, protocolErrors: 0, incomplete: 0, packets: 0 };
    const unexpected: string[] = [];
    const t0 = Date.now();
    for (let i = 0; i < N.fuzzInProcess; i++) {
      // Only the stream up to the mutated packet: the bulk measures the codec, not the replay of the rest.
      const c = fuzzCase(streams, rng, false);
      const state = new ConnectionState();
      const framer = new Framer('client', state, limits, { verifyChecksums: true });
      try {
        let packets = framer.push(c.bytes);
        // The proxy answers the Hello itself; then the framer goes on with the client's next packets.
        if (packets.length > 0 && packets[0].code === ClientCode.Hello) {
          state.onServerHello(SERVER_REVISION);
          state.addendumPending = false;
          packets = packets.concat(framer.poll());
        }
        outcome.packets += packets.length;
        if (framer.idle) outcome.framed++;
        else outcome.incomplete++;
      } catch (e) {
        if (e instanceof ProtocolError) outcome.protocolErrors++;
        else if (unexpected.length < 20) unexpected.push(`${c.stream}#${c.index} ${c.kind}: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    record('fuzz-in-process', { seed: SEED, cases: N.fuzzInProcess, ...outcome, unexpected: unexpected.length, seconds });
    expect(unexpected).toEqual([]);
    expect(outcome.framed + outcome.protocolErrors + outcome.incomplete).toBe(N.fuzzInProcess);
  }, testTimeoutMs(30_000, 1_800_000));

  it(`${N.fuzzSockets} mutated golden streams over real sockets: Exception, close or answers; never a crash`, async () => {
    const rng = new Rng(SEED + 1);
    const cases = Array.from({ length: N.fuzzSockets }, () => fuzzCase(streams, rng, true));
    const rss0 = proxy.gh.rssBytes();
    const heap0 = await heapUsed();
    let closedByProxy = 0;
    let exceptions = 0;
    let maxCloseMs = 0;
    const t0 = Date.now();
    await inParallel(cases, N.socketConcurrency, async (c) => {
      // 300 ms after the last byte the client goes away itself: a packet still incomplete then waits for bytes, as
      // ClickHouse itself would (see docs/reliability.md, findings).
      const out = await rawExchange(proxy.gh.port, [c.bytes], { waitMs: 300 });
      if (out.closedAfterMs !== null) {
        closedByProxy++;
        maxCloseMs = Math.max(maxCloseMs, out.closedAfterMs);
      }
      if (out.bytes.includes(Buffer.from('DB::Exception'))) exceptions++;
    });
    const seconds = (Date.now() - t0) / 1000;
    await sleep(500);
    const rss1 = proxy.gh.rssBytes();
    // Pass-through mode keys a pool by each user/password a Hello presents: fuzzed names make pools; pools without a
    // connection are dropped 5 s after their last use, so they are counted again after that.
    const poolCount = async () => ((await (await fetch(`http://127.0.0.1:${proxy.gh.adminPort}/status`)).json()) as { pools: unknown[] }).pools.length;
    const pools = await poolCount();
    await sleep(12_000);
    const poolsSettled = await poolCount();
    const heap1 = await heapUsed();
    const rss2 = proxy.gh.rssBytes();
    record('fuzz-sockets', {
      seed: SEED + 1, cases: N.fuzzSockets, closedByProxy, withException: exceptions, maxCloseMs, seconds,
      rssBeforeMb: mb(rss0), rssAfterMb: mb(rss1), rssSettledMb: mb(rss2), heapUsedBeforeMb: mb(heap0), heapUsedSettledMb: mb(heap1), pools, poolsSettled,
    });
    expect(proxy.gh.process.running).toBe(true);
    expect(poolsSettled).toBeLessThanOrEqual(10); // a mutated Hello that still logs in (e.g. another client name) keeps a live pool
    // RSS keeps V8's high-water mark; what is live afterwards is the heap in use.
    expect(heap1 - heap0).toBeLessThan(64 << 20);
  }, testTimeoutMs(60_000, 3_600_000));

  it(`${N.randomByteSockets} connections of random bytes are closed by the proxy`, async () => {
    const rng = new Rng(SEED + 2);
    const inputs = Array.from({ length: N.randomByteSockets }, () => {
      const b = rng.bytes(1 + rng.int(4096));
      // Half start like a Hello (code 0), so the garbage reaches the Hello's fields, not just the packet code.
      if (rng.int(2) === 0) b[0] = 0;
      return b;
    });
    let closedByProxy = 0;
    let maxCloseMs = 0;
    await inParallel(inputs, N.socketConcurrency, async (b) => {
      const out = await rawExchange(proxy.gh.port, [b], { waitMs: 300 });
      if (out.closedAfterMs !== null) {
        closedByProxy++;
        maxCloseMs = Math.max(maxCloseMs, out.closedAfterMs);
      }
    });
    record('random-bytes', { seed: SEED + 2, connections: N.randomByteSockets, closedByProxy, maxCloseMs });
    // A random Hello may still be incomplete after 300 ms (a long string length); most are refused at once.
    expect(closedByProxy).toBeGreaterThan(N.randomByteSockets * 0.5);
    await assertServes(proxy);
  }, testTimeoutMs(30_000, 1_800_000));
});

/** Sends a handshake, then `after`; returns the Exception the proxy answered with (or null) and whether it closed. */
async function afterHandshake(build: (rev: number) => Buffer): Promise<{ code: number | null; closed: boolean }> {
  const c = await loggedIn(proxy.gh.port, proxy.user, proxy.password);
  try {
    c.send(build(c.state.revision));
    for (;;) {
      const p = await c.next(15_000);
      if (!p) return { code: null, closed: true };
      if (p.code === ServerCode.Exception) {
        const code = (p.packet as ServerException).exceptions[0].code;
        const closed = (await c.next(15_000)) === null;
        return { code, closed };
      }
    }
  } finally {
    c.close();
  }
}

describe('oversized strings and blocks (past the codec limits)', () => {
  it('a Query text longer than limits.max_string_bytes: Exception (limit) and close', async () => {
    const r = await afterHandshake((rev) => encodeSimpleQuery(`SELECT '${'x'.repeat(LIMITS.max_string_bytes + 10)}'`, rev));
    record('oversized-query', { bytes: LIMITS.max_string_bytes + 10, ...r });
    expect(r).toEqual({ code: 290, closed: true });
  });

  it('a Data block with a 2 MiB String value (limit 1 MiB): Exception and close, the INSERT never half-applied', async () => {
    const r = await afterHandshake((rev) => {
      const w = new Writer();
      // The Query's external-tables phase: a block named like an external table, carrying the oversized value.
      encodeClientPacket(w, { code: ClientCode.Query, queryId: '', settings: [], stage: 2, compression: false, query: 'SELECT 1' }, rev);
      const block = new Writer();
      encodeBlock(block, { columns: [{ name: 's', type: 'String', values: ['y'.repeat(2 << 20)] }] }, rev);
      encodeBlockPacket(w, ClientCode.Data, 'ext', block.view(), null);
      return w.toBuffer();
    });
    expect(r).toEqual({ code: 290, closed: true });
  });

  it('a block declaring 2^40 rows or 10^6 columns: refused before anything is allocated', async () => {
    for (const [cols, rows] of [
      [1, 2 ** 40],
      [1_000_000, 1],
    ]) {
      const rss0 = proxy.gh.rssBytes();
      const r = await afterHandshake((rev) => {
        const w = new Writer();
        encodeClientPacket(w, { code: ClientCode.Query, queryId: '', settings: [], stage: 2, compression: false, query: 'SELECT 1' }, rev);
        w.varUInt(ClientCode.Data).string('');
        // BlockInfo (field 1 is_overflows, field 2 bucket_num, 0 ends it), then counts (NativeWriter.cpp).
        w.varUInt(1).u8(0).varUInt(2).raw(Buffer.from([0xff, 0xff, 0xff, 0xff])).varUInt(0);
        w.varUInt(cols).varUInt(rows);
        w.string('n').string('UInt64');
        return w.toBuffer();
      });
      expect(r.closed).toBe(true);
      expect(r.code).toBe(290);
      expect(proxy.gh.rssBytes() - rss0).toBeLessThan(32 << 20);
    }
  });

  it('a compressed frame whose header claims 2 GiB: Exception and close', async () => {
    const r = await afterHandshake((rev) => {
      const w = new Writer();
      encodeClientPacket(w, { code: ClientCode.Query, queryId: '', settings: [], stage: 2, compression: true, query: 'SELECT 1' }, rev);
      w.varUInt(ClientCode.Data).string('');
      // 16-byte checksum, method 0x82 (LZ4), compressed size (incl. 9-byte header), raw size: ClickHouse's CompressedReadBufferBase.
      const header = Buffer.alloc(25);
      header[16] = 0x82;
      header.writeUInt32LE(0x7fff_fff0, 17);
      header.writeUInt32LE(0x7fff_fff0, 21);
      w.raw(header);
      return w.toBuffer();
    });
    expect(r.closed).toBe(true);
    expect(r.code).not.toBeNull();
  });
});

/** The first packet the proxy answers a raw Hello with: Hello (0), Exception (its code), or a close. */
async function helloAnswer(hello: Buffer): Promise<{ answer: 'hello' | 'exception' | 'closed'; code?: number; ms: number }> {
  const t0 = Date.now();
  const c = await NativeClient.open(proxy.gh.port);
  try {
    c.state.onClientHello(SERVER_REVISION);
    c.send(hello);
    const p = await c.next(15_000);
    const ms = Date.now() - t0;
    if (!p) return { answer: 'closed', ms };
    if (p.code === ServerCode.Exception) return { answer: 'exception', code: (p.packet as ServerException).exceptions[0].code, ms };
    return { answer: 'hello', ms };
  } finally {
    c.close();
  }
}

describe('a Hello with absurd fields', () => {
  it('huge revisions are negotiated down; a 100 KB user name and a revision above 2^53 are refused; invalid UTF-8 fails login', async () => {
    const huge = await helloAnswer(rawHello({ revision: 2 ** 31 - 1, user: 'default' }));
    expect(huge.answer).toBe('hello');
    const maxSafe = await helloAnswer(rawHello({ revision: Number.MAX_SAFE_INTEGER, user: 'default' }));
    expect(maxSafe.answer).toBe('hello');
    const above = await helloAnswer(rawHello({ revision: 2n ** 63n, user: 'default' }));
    expect(above.answer).toBe('exception');
    const tooOld = await helloAnswer(rawHello({ revision: 1, user: 'default' }));
    expect(tooOld.answer).toBe('exception');
    const longUser = await helloAnswer(rawHello({ revision: SERVER_REVISION, user: 'u'.repeat(100 * 1024) }));
    expect(longUser).toMatchObject({ answer: 'exception', code: 290 });
    const longName = await helloAnswer(rawHello({ revision: SERVER_REVISION, user: 'default', clientName: 'c'.repeat(100 * 1024) }));
    expect(longName).toMatchObject({ answer: 'exception', code: 290 });
    const badUtf8 = await helloAnswer(rawHello({ revision: SERVER_REVISION, user: Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x80]) }));
    expect(badUtf8.answer).toBe('exception');
    const badDb = await helloAnswer(rawHello({ revision: SERVER_REVISION, user: 'default', database: '\u0000../../etc' }));
    expect(badDb.answer).toBe('exception');
    record('absurd-hello', { huge, maxSafe, above, tooOld, longUser, longName, badUtf8, badDb });
  });
});

describe('slowloris', () => {
  it(`${N.slowloris} clients sending their Hello one byte per second, and one sending nothing, are closed by connections.handshake_timeout_ms`, async () => {
    const hello = rawHello({ revision: SERVER_REVISION, user: 'default' });
    // One byte a second: the Hello (about 30 bytes) would take longer than the timeout.
    const chunks = [...hello].map((b) => Buffer.of(b));
    const before = await poolGauges(proxy);
    const [silent, ...outcomes] = await Promise.all([
      rawExchange(proxy.gh.port, [], { waitMs: HANDSHAKE_TIMEOUT_MS + 3_000 }),
      ...Array.from({ length: N.slowloris }, () => rawExchange(proxy.gh.port, chunks, { gapMs: 1_000, waitMs: 1_000 })),
    ]);
    const closeMs = outcomes.map((o) => o.closedAfterMs);
    record('slowloris', {
      clients: N.slowloris, helloBytes: hello.length, closeMs, silentCloseMs: silent.closedAfterMs, timeoutMs: HANDSHAKE_TIMEOUT_MS,
      sawException: outcomes.filter((o) => o.bytes.includes(Buffer.from('handshake_timeout_ms'))).length,
    });
    for (const o of [silent, ...outcomes]) {
      expect(o.closedAfterMs).not.toBeNull();
      // Closed when the timer fires (plus scheduling), well before the Hello could have been finished.
      expect(o.closedAfterMs!).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 100);
      expect(o.closedAfterMs!).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 3_000);
      expect(o.bytes.includes(Buffer.from('handshake_timeout_ms'))).toBe(true);
    }
    // No backend connection was taken for them.
    expect((await poolGauges(proxy)).busy).toBe(before.busy);
  }, 60_000);
});

describe('many connections and clients that never read', () => {
  it(`${N.idleConnections} idle connections (after their Hello) while another client keeps querying`, async () => {
    const rss0 = proxy.gh.rssBytes();
    const t0 = Date.now();
    const idle: NativeClient[] = [];
    let normalQueries = 0;
    let normalFailures = 0;
    let stop = false;
    const normal = (async () => {
      const c = await loggedIn(proxy.gh.port, proxy.user, proxy.password);
      try {
        while (!stop) {
          const r = await runNative(c, 'SELECT count() FROM system.one');
          if (r.error !== undefined || Number(r.rows[0]) !== 1) normalFailures++;
          normalQueries++;
          await sleep(20);
        }
      } finally {
        c.close();
      }
    })();
    try {
      await inParallel(Array.from({ length: N.idleConnections }), 32, async () => {
        idle.push(await loggedIn(proxy.gh.port, proxy.user, proxy.password));
      });
      const openMs = Date.now() - t0;
      const clients = (await poolGauges(proxy)).clients;
      // Held past the handshake timeout: logged-in idle clients stay (ClickHouse itself keeps them for hours).
      await sleep(HANDSHAKE_TIMEOUT_MS + 1_000);
      const rssHeld = proxy.gh.rssBytes();
      const stillOpen = idle.filter((c) => !c.closed).length;
      stop = true;
      await normal;
      for (const c of idle) c.close();
      await sleep(1_000);
      const after = await poolGauges(proxy);
      record('idle-connections', {
        connections: N.idleConnections, openMs, clientsGauge: clients, stillOpenAfterTimeout: stillOpen, normalQueries, normalFailures,
        rssBeforeMb: mb(rss0), rssHeldMb: mb(rssHeld), rssAfterCloseMb: mb(proxy.gh.rssBytes()), perConnectionKb: Math.round((rssHeld - rss0) / N.idleConnections / 1024), clientsAfter: after.clients,
      });
      expect(clients).toBeGreaterThanOrEqual(N.idleConnections);
      expect(stillOpen).toBe(N.idleConnections);
      expect(normalFailures).toBe(0);
      expect(normalQueries).toBeGreaterThan(10);
      expect(after.clients).toBe(0);
      // Bounded: well under 100 KB a connection.
      expect(rssHeld - rss0).toBeLessThan(N.idleConnections * 100 * 1024);
    } finally {
      stop = true;
      for (const c of idle) c.close();
    }
  }, testTimeoutMs(60_000, 300_000));

  it(`${N.neverRead} clients that start a large SELECT and never read: RSS stays bounded, the backend is freed when they go`, async () => {
    const rss0 = proxy.gh.rssBytes();
    const stalled: NativeClient[] = [];
    for (let i = 0; i < N.neverRead; i++) {
      const c = await loggedIn(proxy.gh.port, proxy.user, proxy.password);
      c.socket.pause();
      // About 1.7 GB on the wire if it were read: far more than any buffer.
      c.query('SELECT number, toString(number) AS s FROM system.numbers LIMIT 100000000');
      stalled.push(c);
    }
    const samples: number[] = [];
    let busy = 0;
    try {
      for (let i = 0; i < 8; i++) {
        await sleep(1_000);
        samples.push(proxy.gh.rssBytes());
      }
      busy = (await poolGauges(proxy)).busy;
      // Meanwhile a normal client is served (N.neverRead stays below the reader pool's max: more stalled clients
      // than that starve the pool, see docs/reliability.md, findings).
      await assertServes(proxy);
    } finally {
      for (const c of stalled) c.close();
    }
    const peak = Math.max(...samples);
    const t0 = Date.now();
    const g = await assertRecovered(proxy, 30_000);
    record('never-read', { clients: N.neverRead, rssBeforeMb: mb(rss0), rssSamplesMb: samples.map(mb), peakMb: mb(peak), busyWhileStalled: busy, freedAfterMs: Date.now() - t0, idleAfter: g.idle });
    expect(busy).toBeGreaterThanOrEqual(N.neverRead);
    // Socket buffers and one packet per stalled query, not the result.
    expect(peak - rss0).toBeLessThan(N.neverRead * 40 * 1024 * 1024);
    // Flat once the buffers are full.
    expect(samples[samples.length - 1] - samples[2]).toBeLessThan(32 << 20);
  }, testTimeoutMs(60_000, 300_000));
});

afterAll(() => {
  if (SCALE === 'long') process.stdout.write(`chaos scale long: figures in ${require('./results').RESULTS_FILE}\n`);
});
