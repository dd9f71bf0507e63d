/**
 * RedisStore against a real redis-server (Debian's 7.0): entries, TTL, invalidation and its race with set(), corrupt
 * entries, locks and waiting for another instance's entry, two instances on one Redis, and failures: Redis killed,
 * restarted on the same port, paused (timeouts), out of memory, wrong password. Then the same store on a 3-node Redis
 * Cluster (test/helpers/redis-cluster.ts). Every server is a throw-away one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { encodeEntry, FEED_READER_MARK_MS, MIN_FEED_READ_MARK_MS, makeEntry, RedisStore, StoreUnavailableError, type Entry, type RedisStoreOptions } from '../../src/cache';
import { startRedis, type RedisServer } from '../helpers';
import { startRedisCluster, type RedisClusterServers } from '../helpers/redis-cluster';

const REVISION = 54412;
const TIMEOUT_MS = 250;
/** What a failing call may take beyond commandTimeoutMs (timer and event-loop jitter). */
const SLACK_MS = 200;

/** Packets holding every byte value, then random bytes: a codec slip shows. */
function packets(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i < 256 ? i : Math.floor(Math.random() * 256);
  return b;
}

/** A packet index cutting `n` bytes into packets of up to 1000 bytes, every other one with a block. */
function packetIndex(n: number): Uint32Array {
  const pairs: number[] = [];
  for (let start = 0, i = 0; start < n; i++) {
    const end = Math.min(n, start + 1000);
    pairs.push(end, i % 2 === 0 && end - start >= 3 ? start + 2 : 0);
    start = end;
  }
  return Uint32Array.from(pairs);
}

/** An entry of `bytes` packet bytes (8 KiB by default) that read `tables`. */
function entry(tables: string[], opts: { ttlMs?: number; createdAt?: number; bytes?: number } = {}): Entry {
  const n = opts.bytes ?? 8192;
  return makeEntry({
    createdAt: opts.createdAt ?? Date.now(),
    ttlMs: opts.ttlMs ?? 60_000,
    tables,
    revision: REVISION,
    packets: packets(n),
    index: packetIndex(n),
  });
}

/**
 * A real result: clickhouse-client 18.16 `SELECT` of many types (rev 54412), packets and index as in
 * test/unit/cache/entry.test.ts (header Data, Data, ProfileInfo, final empty Data).
 */
function capturedEntry(tables: string[], ttlMs: number): Entry {
  const s2c = readFileSync(join(__dirname, '../fixtures/vectors/captures-18.16/cli_nocomp_select_types/conn1.s2c.bin'));
  return makeEntry({
    createdAt: Date.now(),
    ttlMs,
    tables,
    revision: REVISION,
    packets: Buffer.concat([s2c.subarray(30, 1248), s2c.subarray(1252, 1264)]),
    index: Uint32Array.of(373, 2, 1210, 375, 1218, 0, 1230, 1220),
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` every 20 ms until true; fails after `ms`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await delay(20);
  }
}

/** The rejection of `p` (fails if it resolves), with how long it took from `started`. */
async function failure(p: Promise<unknown>, started = Date.now()): Promise<{ err: unknown; ms: number }> {
  try {
    await p;
  } catch (err) {
    return { err, ms: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

const stores: RedisStore[] = [];
const rawClients: Redis[] = [];

/** A store on `port`, closed after the test, connected before it is returned. */
async function openStore(port: number, opts: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  const store = new RedisStore({
    url: `redis://127.0.0.1:${port}`,
    commandTimeoutMs: TIMEOUT_MS,
    maxEntryBytes: 1 << 20,
    prefix: 'test:',
    ...opts,
  });
  stores.push(store);
  await until(() => store.up, 5_000, 'store connected');
  return store;
}

/** A plain client for looking at keys and changing the server's config. */
function raw(port: number): Redis {
  // disconnectTimeout: a client whose server is gone waits that long for a 'close' that already happened
  const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, disconnectTimeout: 50 });
  c.on('error', () => undefined);
  rawClients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const c of rawClients.splice(0)) c.disconnect();
});

describe('RedisStore on one Redis', () => {
  let server: RedisServer;
  let r: Redis;
  let n = 0;
  /** A fresh cache key per test, so tests never see each other's entries. */
  const key = (): string => `v1:key-${process.pid}-${++n}`;

  beforeAll(async () => {
    server = await startRedis();
  }, 40_000);

  afterAll(async () => {
    await server?.stop();
  });

  beforeEach(() => {
    r = raw(server.port);
  });

  it('round-trips an entry: bytes, tables, revision; keys carry hash tags and a TTL', async () => {
    const store = await openStore(server.port);
    const k = key();
    const e = capturedEntry(['db.a', 'db.b'], 30_000);
    expect(await store.get(k)).toBeNull();
    expect(await store.set(k, e, await store.mark(e.tables))).toBe(true);
    const got = await store.get(k);
    expect(got).not.toBeNull();
    expect(Buffer.compare(got!.packets, e.packets)).toBe(0);
    expect([...got!.index]).toEqual([...e.index]);
    expect(got).toMatchObject({ version: e.version, createdAt: e.createdAt, ttlMs: 30_000, tables: ['db.a', 'db.b'], revision: REVISION, bytes: e.bytes });
    expect(Buffer.compare((await r.getBuffer(`test:e:{${k}}`))!, encodeEntry(e))).toBe(0);
    const pttl = await r.pttl(`test:e:{${k}}`);
    expect(pttl).toBeGreaterThan(25_000);
    expect(pttl).toBeLessThanOrEqual(30_000);
    expect(await r.smembers('test:t:{db.a}')).toEqual([k]);
    expect(await r.pttl('test:t:{db.b}')).toBeGreaterThanOrEqual(pttl - 1_000);
    expect(store.stats()).toMatchObject({ entries: -1, bytes: -1, hits: 1, misses: 1, invalidations: 0 });
  });

  it('escapes braces in table names so every key keeps one hash tag', async () => {
    const store = await openStore(server.port);
    const k = key();
    const e = entry(['db.`we}ird{`']);
    expect(await store.set(k, e, await store.mark(e.tables))).toBe(true);
    expect(await r.smembers('test:t:{db.`we%7Dird%7B`}')).toEqual([k]);
    expect(await store.invalidate(['db.`we}ird{`'])).toBe(1);
    expect(await store.get(k)).toBeNull();
  });

  it('expires entries by TTL, in Redis and by its own clock', async () => {
    const store = await openStore(server.port);
    const k = key();
    const e = entry(['db.ttl'], { ttlMs: 300 });
    expect(await store.set(k, e, await store.mark(e.tables))).toBe(true);
    expect(await store.get(k)).not.toBeNull();
    await delay(400);
    expect(await store.get(k)).toBeNull();
    expect(await r.exists(`test:e:{${k}}`)).toBe(0);

    // a clock ahead of Redis' (another instance's skew): expired for this store although Redis still has it
    let now = Date.now();
    const skewed = await openStore(server.port, { now: () => now });
    const k2 = key();
    const e2 = entry(['db.ttl'], { ttlMs: 10_000, createdAt: now });
    expect(await skewed.set(k2, e2, await skewed.mark(e2.tables))).toBe(true);
    now += 10_000;
    expect(await skewed.get(k2)).toBeNull();
    expect(await r.exists(`test:e:{${k2}}`)).toBe(1);
  });

  it('refuses entries over maxEntryBytes or already expired, storing nothing', async () => {
    const store = await openStore(server.port, { maxEntryBytes: 4096 });
    const big = entry(['db.cap'], { bytes: 5000 });
    const k = key();
    expect(await store.set(k, big, await store.mark(big.tables))).toBe(false);
    const old = entry(['db.cap'], { bytes: 100, createdAt: Date.now() - 2_000, ttlMs: 1_000 });
    expect(await store.set(k, old, await store.mark(old.tables))).toBe(false);
    expect(await r.exists(`test:e:{${k}}`)).toBe(0);
    expect(await r.exists('test:t:{db.cap}')).toBe(0);
  });

  it('invalidate removes the entries that read a table, and only those', async () => {
    const store = await openStore(server.port);
    const [ka, kab, kc] = [key(), key(), key()];
    for (const [k, tables] of [[ka, ['db.a1']], [kab, ['db.a1', 'db.b1']], [kc, ['db.c1']]] as const) {
      const e = entry([...tables]);
      expect(await store.set(k, e, await store.mark(e.tables))).toBe(true);
    }
    expect(await store.invalidate(['db.a1'])).toBe(2);
    expect(await store.get(ka)).toBeNull();
    expect(await store.get(kab)).toBeNull();
    expect(await store.get(kc)).not.toBeNull();
    expect(await r.exists('test:t:{db.a1}')).toBe(0);
    // The invalidation token is random (never a count that could repeat after a Redis restart).
    const token = await r.get('test:v:{db.a1}');
    expect(token).toMatch(/^[0-9a-f]{24}$/);
    expect(await r.pttl('test:v:{db.a1}')).toBeGreaterThan(6 * 24 * 3600 * 1000);
    expect(await store.invalidate(['db.a1', 'db.nothing'])).toBe(0);
    expect(await r.get('test:v:{db.a1}')).not.toBe(token);
    expect(store.stats().invalidations).toBe(2);
  });

  it('set() after an invalidation of a marked table returns false and leaves nothing', async () => {
    const store = await openStore(server.port);
    const other = await openStore(server.port);
    const k = key();
    const e = entry(['db.race', 'db.calm']);
    const mark = await store.mark(e.tables);
    await other.invalidate(['db.race']);
    expect(await store.set(k, e, mark)).toBe(false);
    expect(await r.exists(`test:e:{${k}}`)).toBe(0);
    expect(await store.get(k)).toBeNull();
    // a mark taken after the invalidation is fine
    expect(await store.set(k, e, await store.mark(e.tables))).toBe(true);
    // a table the mark does not cover proves nothing: refused
    expect(await store.set(key(), e, await store.mark(['db.race']))).toBe(false);
  });

  it('many concurrent set/invalidate pairs never leave an entry stored after its invalidation', async () => {
    const writer = await openStore(server.port);
    const invalidator = await openStore(server.port);
    const keys = Array.from({ length: 40 }, () => key());
    await Promise.all(
      keys.map(async (k, i) => {
        const table = `db.hot${i % 4}`;
        const e = entry([table], { bytes: 512 });
        const mark = await writer.mark([table]);
        // the invalidation happens at some point during or around the set: whatever the interleaving, after both
        // are done the entry must be gone (a write after the mark always wins)
        await Promise.all([writer.set(k, e, mark), delay(i % 3).then(() => invalidator.invalidate([table]))]);
      }),
    );
    for (const k of keys) expect(await writer.get(k)).toBeNull();
  });

  it('an undecodable entry reads as a miss and is deleted', async () => {
    const store = await openStore(server.port);
    const k = key();
    await r.set(`test:e:{${k}}`, Buffer.from('not a cache entry'));
    expect(await store.get(k)).toBeNull();
    expect(await r.exists(`test:e:{${k}}`)).toBe(0);
    const e = entry(['db.x']);
    expect(await store.set(k, e, await store.mark(e.tables))).toBe(true);
    const good = await r.getBuffer(`test:e:{${k}}`);
    await r.set(`test:e:{${k}}`, good!.subarray(0, good!.length - 1)); // truncated
    expect(await store.get(k)).toBeNull();
    expect(await r.exists(`test:e:{${k}}`)).toBe(0);
    expect(store.stats()).toMatchObject({ hits: 0, misses: 2 });
  });

  it('lock: exclusive, released only by its holder, expires by itself', async () => {
    const a = await openStore(server.port);
    const b = await openStore(server.port);
    const k = key();
    const held = await a.lock(k, 5_000);
    expect(held).not.toBeNull();
    expect(await b.lock(k, 5_000)).toBeNull();
    expect(await a.lock(k, 5_000)).toBeNull(); // not re-entrant either
    await held!.release();
    await held!.release(); // idempotent
    const byB = await b.lock(k, 5_000);
    expect(byB).not.toBeNull();

    // a holder whose lock expired and was taken over must not free the new holder's lock
    const k2 = key();
    const shortLived = await a.lock(k2, 100);
    expect(shortLived).not.toBeNull();
    await delay(200);
    const taken = await b.lock(k2, 5_000);
    expect(taken).not.toBeNull();
    await shortLived!.release();
    expect(await r.exists(`test:l:{${k2}}`)).toBe(1);
    expect(await a.lock(k2, 5_000)).toBeNull();
    await taken!.release();
    expect(await r.exists(`test:l:{${k2}}`)).toBe(0);
    await byB!.release();
  });

  it('waitForEntry returns the entry another instance stores under the lock, promptly', async () => {
    const waiter = await openStore(server.port);
    const holder = await openStore(server.port);
    const k = key();
    const lock = await holder.lock(k, 5_000);
    expect(lock).not.toBeNull();
    const started = Date.now();
    const waiting = waiter.waitForEntry(k, 5_000);
    await delay(300);
    const e = entry(['db.w']);
    const storedAt = Date.now();
    expect(await holder.set(k, e, await holder.mark(e.tables))).toBe(true);
    await lock!.release();
    const got = await waiting;
    expect(got).not.toBeNull();
    expect(Buffer.compare(got!.packets, e.packets)).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - storedAt).toBeLessThan(150); // woken by the message (or the 50 ms poll), not the timeout
    await until(async () => (await r.pubsub('NUMSUB', `test:c:{${k}}`))[1] === 0, 2_000, 'channel unsubscribed');
  });

  it('waitForEntry: null when the lock is released (or expires) without an entry, null on timeout', async () => {
    const waiter = await openStore(server.port);
    const holder = await openStore(server.port);

    const k = key();
    const lock = await holder.lock(k, 5_000);
    const waiting = waiter.waitForEntry(k, 5_000);
    await delay(100);
    const releasedAt = Date.now();
    await lock!.release();
    expect(await waiting).toBeNull();
    expect(Date.now() - releasedAt).toBeLessThan(150);

    const k2 = key();
    await holder.lock(k2, 200); // never released: expires
    let started = Date.now();
    expect(await waiter.waitForEntry(k2, 5_000)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(Date.now() - started).toBeLessThan(600);

    const k3 = key();
    await holder.lock(k3, 5_000);
    started = Date.now();
    expect(await waiter.waitForEntry(k3, 300)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(300 + SLACK_MS);

    // neither lock nor entry: nothing to wait for
    started = Date.now();
    expect(await waiter.waitForEntry(key(), 5_000)).toBeNull();
    expect(Date.now() - started).toBeLessThan(200);

    // several waiters on one key share one subscription, and none is left afterwards
    const k4 = key();
    const l4 = await holder.lock(k4, 5_000);
    const many = Array.from({ length: 5 }, () => waiter.waitForEntry(k4, 5_000));
    await delay(100);
    expect((await r.pubsub('NUMSUB', `test:c:{${k4}}`))[1]).toBe(1);
    await l4!.release();
    expect(await Promise.all(many)).toEqual([null, null, null, null, null]);
    await until(async () => (await r.pubsub('NUMSUB', `test:c:{${k4}}`))[1] === 0, 2_000, 'channel unsubscribed');
  });

  it('feed read marks: a read or markRead() marks the key for FEED_READER_MARK_MS; readers() sees it from another instance', async () => {
    const a = await openStore(server.port);
    const b = await openStore(server.port);
    const k1 = key();
    const k2 = key();
    expect(await b.feed.readers(k1)).toBe(false);
    await a.feed.read(k1, '0', 10, 0);
    expect(await b.feed.readers(k1)).toBe(true);
    expect(await b.feed.readers(k2)).toBe(false);
    await a.feed.markRead(k2);
    expect(await b.feed.readers(k2)).toBe(true);
    const pttl = await r.pttl(`test:r:{${k2}}`);
    expect(pttl).toBeGreaterThan(FEED_READER_MARK_MS - 1_000);
    expect(pttl).toBeLessThanOrEqual(FEED_READER_MARK_MS);
  });

  it('feed read marks last feedReadMarkMs when configured (cache.redis.feed_read_mark_ms), and refuse less than the minimum', async () => {
    const a = await openStore(server.port, { feedReadMarkMs: 1_500 });
    const k = key();
    await a.feed.read(k, '0', 10, 0);
    const afterRead = await r.pttl(`test:r:{${k}}`);
    expect(afterRead).toBeGreaterThan(1_000);
    expect(afterRead).toBeLessThanOrEqual(1_500);
    await a.feed.markRead(k);
    expect(await r.pttl(`test:r:{${k}}`)).toBeLessThanOrEqual(1_500);
    expect(a.feed.readMarkMs).toBe(1_500);
    expect(() => new RedisStore({ url: `redis://127.0.0.1:${server.port}`, maxEntryBytes: 1, feedReadMarkMs: MIN_FEED_READ_MARK_MS - 1 })).toThrow(
      `RedisStore: feedReadMarkMs must be >= ${MIN_FEED_READ_MARK_MS}`,
    );
  });

  it("feed marks: a reader's later mark tells whether a producer's mark predates an invalidation of its tables", async () => {
    const store = await openStore(server.port);
    const t = `db.fm_${++n}`;
    const producer = await store.mark([t, '*']);
    const text = store.feed.markText(producer);
    expect(store.feed.predates(text, await store.mark([t, '*']))).toBe(false); // nothing invalidated since
    await store.invalidate(['db.other']);
    expect(store.feed.predates(text, await store.mark([t, '*']))).toBe(false); // another table only
    await store.invalidate([t]);
    expect(store.feed.predates(text, await store.mark([t, '*']))).toBe(true);
    expect(store.feed.predates(text, await store.mark([t, '*', 'db.not_in_it']))).toBe(true); // a table it has no counter of
    expect(store.feed.predates(undefined, await store.mark([t]))).toBe(false); // a producer that sent no mark is trusted
    expect(store.feed.predates('not json', await store.mark([t]))).toBe(true);
    // The mark travels in the feed's start item.
    const k = key();
    await store.feed.publish(k, [{ kind: 'start', token: 'tok', mark: text }], 10_000, true);
    const read = await store.feed.read(k, '0', 10, 0);
    expect(read?.items[0]).toEqual({ kind: 'start', token: 'tok', mark: text });
  });

  it('two instances share entries and invalidations', async () => {
    const a = await openStore(server.port);
    const b = await openStore(server.port);
    const k = key();
    const e = entry(['db.shared']);
    expect(await a.set(k, e, await a.mark(e.tables))).toBe(true);
    const got = await b.get(k);
    expect(got).not.toBeNull();
    expect(Buffer.compare(got!.packets, e.packets)).toBe(0);
    expect(await b.invalidate(['db.shared'])).toBe(1);
    expect(await a.get(k)).toBeNull();
    expect(a.stats()).toMatchObject({ hits: 0, misses: 1, invalidations: 0 });
    expect(b.stats()).toMatchObject({ hits: 1, misses: 0, invalidations: 1 });
  });

  it('stats() never waits and picks up Redis evicted_keys in the background', async () => {
    const store = await openStore(server.port);
    const first = store.stats(); // starts the INFO read
    expect(first.evictions).toBe(0);
    await delay(100);
    expect(store.stats().evictions).toBe(0); // a fresh server has evicted nothing; the value came from INFO
  });

  it('close() is idempotent; later calls and pending waits reject', async () => {
    const store = await openStore(server.port);
    const other = await openStore(server.port);
    const k = key();
    await other.lock(k, 5_000);
    const waiting = failure(store.waitForEntry(k, 5_000));
    await delay(50);
    await Promise.all([store.close(), store.close()]);
    await store.close();
    const pending = await waiting;
    expect(pending.err).toBeInstanceOf(StoreUnavailableError);
    const later = await failure(store.get(k));
    expect(later.err).toMatchObject({ reason: 'down' });
    await expect(store.waitForEntry(k, 100)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('calls time out when Redis does not answer (CLIENT PAUSE), then work again', async () => {
    const store = await openStore(server.port);
    const k = key();
    const e = entry(['db.slow']);
    const mark = await store.mark(e.tables);
    await r.client('PAUSE', 1_000, 'ALL');
    try {
      for (const call of [() => store.get(k), () => store.set(k, e, mark), () => store.invalidate(['db.slow']), () => store.lock(k, 1_000)]) {
        const { err, ms } = await failure(call());
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect((err as StoreUnavailableError).reason).toBe('timeout');
        expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      }
    } finally {
      await r.client('UNPAUSE');
    }
    await until(async () => (await store.get(k).then(() => true, () => false)), 3_000, 'store answers again');
    // the set() cut short by the deadline was finished in the background, or removed: never left unverified
    await delay(200);
    expect(await store.get(k)).toBeNull(); // invalidate ran after the set's mark: the entry must be gone
  });
});

describe('RedisStore when Redis fails', () => {
  it('Redis killed: every call rejects fast with down/timeout; restarted on the same port: works again', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => {
      unhandled.push(e);
    };
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    let server = await startRedis();
    const port = server.port;
    try {
      const states: boolean[] = [];
      const store = await openStore(port, { onStateChange: (up) => states.push(up) });
      const other = await openStore(port);
      const k = 'v1:killed';
      const e = entry(['db.k']);
      const mark = await store.mark(e.tables);
      const held = await store.lock('v1:held', 10_000);
      const waiting = store.waitForEntry('v1:waited', 10_000).then(
        () => 'resolved',
        (err: unknown) => err,
      );
      await other.lock('v1:waited', 10_000);
      await server.stop();
      await until(() => !store.up, 2_000, 'store sees Redis gone');

      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get(k)],
        ['mark', () => store.mark(['db.k'])],
        ['set', () => store.set(k, e, mark)],
        ['invalidate', () => store.invalidate(['db.k'])],
        ['lock', () => store.lock(k, 1_000)],
        ['release', () => held!.release()],
        ['waitForEntry', () => store.waitForEntry(k, 5_000)],
      ];
      for (const [name, call] of calls) {
        const { err, ms } = await failure(call());
        expect([name, err]).toEqual([name, expect.any(StoreUnavailableError)]);
        expect([name, (err as StoreUnavailableError).reason]).toEqual([name, expect.stringMatching(/^(down|timeout)$/)]);
        expect([name, ms < TIMEOUT_MS + SLACK_MS]).toEqual([name, true]);
      }
      const w = await waiting; // a wait in progress when Redis died fails as well
      expect(w).toBeInstanceOf(StoreUnavailableError);
      expect(store.stats()).toMatchObject({ hits: 0, misses: 0 });

      server = await startRedis({ port });
      await until(() => store.up, 5_000, 'store reconnected by itself');
      expect(await store.set(k, e, await store.mark(e.tables))).toBe(true);
      expect(await store.get(k)).not.toBeNull();
      expect(states).toEqual([true, false, true]);
      await delay(50);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
      await server.stop();
    }
  }, 30_000);

  it("set() rejects with 'full' when Redis is out of memory (noeviction)", async () => {
    const server = await startRedis();
    try {
      const store = await openStore(server.port, { maxEntryBytes: 8 << 20 });
      const r = raw(server.port);
      await r.config('SET', 'maxmemory-policy', 'noeviction');
      await r.config('SET', 'maxmemory', '1mb');
      const e = entry(['db.full'], { bytes: 2 << 20 });
      const { err } = await failure(store.set('v1:full', e, await store.mark(e.tables)));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).reason).toBe('full');
      expect(await r.exists('test:e:{v1:full}')).toBe(0);
      await r.config('SET', 'maxmemory', '0');
      expect(await store.set('v1:full', e, await store.mark(e.tables))).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('a wrong password fails calls without putting the URL or the password in messages', async () => {
    const server = await startRedis();
    try {
      const r = raw(server.port);
      await r.config('SET', 'requirepass', 'right-Pa55');
      const url = `redis://:wrong-Pa55@127.0.0.1:${server.port}`;
      const bad = new RedisStore({ url, commandTimeoutMs: TIMEOUT_MS, maxEntryBytes: 1 << 20 });
      stores.push(bad);
      await delay(200);
      expect(bad.up).toBe(false);
      const { err } = await failure(bad.get('v1:x'));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      const text = `${(err as Error).message} ${(err as Error).stack ?? ''}`;
      expect(text).not.toContain('wrong-Pa55');
      expect(text).not.toContain(url);
      const good = await openStore(server.port, { url: `redis://:right-Pa55@127.0.0.1:${server.port}` });
      expect(await good.get('v1:x')).toBeNull();
      expect(() => new RedisStore({ url: 'http://:secret@host', maxEntryBytes: 1 })).toThrow(/^RedisStore: Redis URL #1 must start with redis:\/\/ or rediss:\/\/$/);
      expect(() => new RedisStore({ url: 'redis://:secret@[bad', maxEntryBytes: 1 })).toThrow(/^RedisStore: Redis URL #1 is not a valid URL$/);
    } finally {
      await server.stop();
    }
  });
});

describe('RedisStore on Redis Cluster (3 masters)', () => {
  let cluster: RedisClusterServers;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  /** A cluster store seeded with one node (`seed`), connected before it is returned. */
  async function clusterStore(seed: number): Promise<RedisStore> {
    const store = new RedisStore({
      url: [`redis://127.0.0.1:${cluster.ports[seed]}`],
      cluster: true,
      commandTimeoutMs: 1_000,
      maxEntryBytes: 1 << 20,
      prefix: 'ctest:',
    });
    stores.push(store);
    await until(() => store.up, 10_000, 'cluster store connected');
    return store;
  }

  it('round-trips entries spread over every node, shared by two instances', async () => {
    const a = await clusterStore(0);
    const b = await clusterStore(2);
    const keys = Array.from({ length: 30 }, (_, i) => `v1:cluster-rt-${i}`);
    const entries = keys.map((_, i) => entry([`db.rt${i % 5}`, 'db.rtall'], { bytes: 2048 }));
    for (let i = 0; i < keys.length; i++) expect(await a.set(keys[i], entries[i], await a.mark(entries[i].tables))).toBe(true);
    for (let i = 0; i < keys.length; i++) {
      const got = await b.get(keys[i]);
      expect(got).not.toBeNull();
      expect(Buffer.compare(got!.packets, entries[i].packets)).toBe(0);
      expect(got!.tables).toEqual(entries[i].tables);
    }
    // the entries really live on different nodes (otherwise this test would prove nothing about slots)
    const perNode = await Promise.all(cluster.ports.map(async (p) => raw(p).dbsize()));
    expect(perNode.filter((n) => n > 0).length).toBe(3);
  });

  it('invalidation across slots removes what read the table, for every instance; the mark race holds', async () => {
    const a = await clusterStore(1);
    const b = await clusterStore(0);
    const keys = Array.from({ length: 20 }, (_, i) => `v1:cluster-inv-${i}`);
    for (let i = 0; i < keys.length; i++) {
      const e = entry(i % 2 === 0 ? ['db.even', 'db.cx'] : ['db.odd'], { bytes: 512 });
      expect(await a.set(keys[i], e, await a.mark(e.tables))).toBe(true);
    }
    expect(await b.invalidate(['db.even'])).toBe(10);
    for (let i = 0; i < keys.length; i++) expect(await a.get(keys[i]) === null).toBe(i % 2 === 0);

    const e = entry(['db.odd', 'db.cx']);
    const mark = await a.mark(e.tables);
    await b.invalidate(['db.cx']);
    expect(await a.set('v1:cluster-race', e, mark)).toBe(false);
    expect(await b.get('v1:cluster-race')).toBeNull();
  });

  it('lock and waitForEntry work across instances', async () => {
    const a = await clusterStore(0);
    const b = await clusterStore(1);
    const k = 'v1:cluster-wait';
    const lock = await a.lock(k, 5_000);
    expect(lock).not.toBeNull();
    expect(await b.lock(k, 5_000)).toBeNull();
    const waiting = b.waitForEntry(k, 5_000);
    await delay(100);
    const e = entry(['db.w']);
    expect(await a.set(k, e, await a.mark(e.tables))).toBe(true);
    await lock!.release();
    const got = await waiting;
    expect(got).not.toBeNull();
    expect(Buffer.compare(got!.packets, e.packets)).toBe(0);
  });
});
