/**
 * Read-your-writes through single-flight, the bookkeeping (docs/cache.md, "Read-your-writes"): an invalidation closes
 * the running executions that read a written table to new clients (native flights in ResultCache, HTTP flights in
 * HttpFlights, which follow whichever ResultCache a reload made current), and joinCheck asks a shared store whether a
 * write through another instance moved the counters since an execution's mark. The end-to-end cases, against real
 * servers, are in test/integration (cache, cache-redis, http-cache-flight).
 */
import { MemoryCacheStore, type CacheStore, type StoreMark } from '../../../src/cache';
import { ALL_TABLES, type CachePlan } from '../../../src/frontend/cache-policy';
import { ResultCache, type CacheEvents } from '../../../src/frontend/result-cache';
import { HttpFlights } from '../../../src/http/cache-flight';
import { HttpFlight } from '../../../src/http/flight';
import { DEFAULT_LIMITS } from '../../../src/protocol';

const events: CacheEvents = {
  hit: () => undefined, miss: () => undefined, stored: () => undefined, bypass: () => undefined, invalidated: () => undefined,
  singleflightWait: () => undefined, staleServed: () => undefined, refresh: () => undefined, runKept: () => undefined,
};

function resultCache(store: CacheStore = new MemoryCacheStore({ maxBytes: 1 << 20, maxEntryBytes: 1 << 16 })): ResultCache {
  return new ResultCache(store, events, { maxEntryBytes: 1 << 16, lockTimeoutMs: 1000, limits: DEFAULT_LIMITS, log: () => undefined });
}

const plan = (key: string, ...tables: string[]): CachePlan => ({ key, tables: [...tables, ALL_TABLES], ttlMs: 60_000, softTtlMs: null });

const httpFlight = (key: string, ...tables: string[]): HttpFlight =>
  new HttpFlight({ key, maxEntryBytes: 1 << 16, tables: [...tables, ALL_TABLES], ttlMs: 60_000, maxPausedMs: 0, background: false });

describe('native flights (ResultCache)', () => {
  test('a write closes the running executions that read a written table, and only those', async () => {
    const cache = resultCache();
    const t = cache.newFlight(plan('kt', 'db.t'), null, 54_412);
    const u = cache.newFlight(plan('ku', 'db.u'), null, 54_412);
    await cache.invalidate(['db.t']);
    expect([cache.joinable('kt'), cache.predatesWrite('kt')]).toEqual([null, true]);
    expect([cache.joinable('ku'), cache.predatesWrite('ku')]).toEqual([u, false]);
    expect(t.joinable).toBe(false);
    // A write whose tables the router cannot name invalidates ALL_TABLES, which every execution reads.
    await cache.invalidate([ALL_TABLES]);
    expect(cache.joinable('ku')).toBeNull();
    // A new execution of the key replaces the closed one: it is joinable.
    const t2 = cache.newFlight(plan('kt', 'db.t'), null, 54_412);
    expect([cache.joinable('kt'), cache.predatesWrite('kt')]).toEqual([t2, false]);
  });
});

describe('HTTP flights (HttpFlights)', () => {
  test("an invalidation through the watched ResultCache closes the flights reading a written table", async () => {
    const cache = resultCache();
    const flights = new HttpFlights();
    const t = httpFlight('kt', 'db.t');
    const u = httpFlight('ku', 'db.u');
    flights.add(t, cache);
    flights.add(u, cache);
    await cache.invalidate(['db.t']);
    expect([t.joinable, t.predatesWrite]).toEqual([false, true]);
    expect([u.joinable, u.predatesWrite]).toEqual([true, false]);
    flights.close();
  });

  test('after a reload replaced the ResultCache, the next flight moves the watch to the new one', async () => {
    const before = resultCache();
    const after = resultCache();
    const flights = new HttpFlights();
    const old = httpFlight('k1', 'db.t');
    flights.add(old, before);
    flights.add(httpFlight('k2', 'db.v'), after);
    await before.invalidate(['db.t']); // the replaced cache is no longer watched
    expect(old.joinable).toBe(true);
    await after.invalidate(['db.t']); // the current one covers every flight, the older ones included
    expect(old.joinable).toBe(false);
    const late = httpFlight('k3', 'db.w');
    flights.add(late, after);
    flights.close(); // the server is closing: the watch stops
    await after.invalidate(['db.w']);
    expect(late.joinable).toBe(true);
  });
});

describe('joinCheck (a store shared by several instances)', () => {
  const mark: StoreMark = { store: 'redis' };
  const marked = (f: HttpFlight): HttpFlight => Object.assign(f, { joinMark: mark });
  const shared = (changedSince: CacheStore['changedSince']): ResultCache =>
    resultCache(Object.assign(new MemoryCacheStore({ maxBytes: 1 << 20, maxEntryBytes: 1 << 16 }), { changedSince }));

  test('counters moved: the execution is closed to joiners and the client does not join', async () => {
    const f = marked(httpFlight('k', 'db.t'));
    expect(await shared(async () => true).joinCheck(f)).toBe(false);
    expect(f.joinable).toBe(false);
  });

  test('counters unchanged, or the store cannot tell: the client joins', async () => {
    const f = marked(httpFlight('k', 'db.t'));
    expect(await shared(async () => false).joinCheck(f)).toBe(true);
    expect(await shared(async () => Promise.reject(new Error('redis down'))).joinCheck(f)).toBe(true);
    expect(f.joinable).toBe(true);
  });

  test('nothing to ask: a store of one process, or an execution without a mark yet', () => {
    const f = marked(httpFlight('k', 'db.t'));
    expect(resultCache().joinCheck(f)).toBeNull();
    expect(shared(async () => true).joinCheck(httpFlight('k2', 'db.t'))).toBeNull();
    expect(f.joinable).toBe(true);
  });
});
