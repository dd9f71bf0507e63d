import { makeEntry, MemoryStore, type Entry } from '../../../src/cache';

/** An entry of exactly `bytes` encoded bytes, holding one packet (bytes > the empty entry's size + its 8 index bytes). */
function entry(bytes: number, opts: { tables?: string[]; createdAt?: number; ttlMs?: number } = {}): Entry {
  const tables = opts.tables ?? [];
  const base = { createdAt: opts.createdAt ?? 0, ttlMs: opts.ttlMs ?? 1000, tables, revision: 54412 };
  const empty = makeEntry({ ...base, packets: Buffer.alloc(0), index: new Uint32Array(0) });
  const packetBytes = bytes - empty.bytes - 8;
  return makeEntry({ ...base, packets: Buffer.alloc(packetBytes, 1), index: Uint32Array.of(packetBytes, 0) });
}

function setup(maxBytes = 1000, maxEntryBytes = 400) {
  const clock = { t: 0 };
  const store = new MemoryStore({ maxBytes, maxEntryBytes, now: () => clock.t });
  return { clock, store };
}

describe('MemoryStore', () => {
  it('gets what it set, counting hits and misses', () => {
    const { store } = setup();
    const e = entry(100);
    expect(store.get('a')).toBeNull();
    expect(store.set('a', e)).toBe(true);
    expect(store.get('a')).toBe(e);
    expect(store.stats()).toEqual({ entries: 1, bytes: 100, hits: 1, misses: 1, evictions: 0, invalidations: 0 });
  });

  it('evicts least recently used entries until under the byte budget', () => {
    const { store } = setup(1000, 400);
    for (const k of ['a', 'b', 'c']) expect(store.set(k, entry(300))).toBe(true); // 900
    store.get('a'); // recency now b, c, a
    expect(store.set('d', entry(300))).toBe(true); // 1200 > 1000: b goes
    expect(store.get('b')).toBeNull();
    expect(store.get('c')).not.toBeNull(); // recency a, d, c
    expect(store.set('e', entry(400))).toBe(true); // 1300: a goes, and 1000 is within the budget
    expect(store.get('a')).toBeNull();
    expect(store.stats()).toMatchObject({ entries: 3, bytes: 1000, evictions: 2 });
    store.get('d'); // recency c, e, d
    expect(store.set('f', entry(350))).toBe(true); // 1350: c (300) then e (400) go
    expect(store.get('c')).toBeNull();
    expect(store.get('e')).toBeNull();
    expect(store.get('d')).not.toBeNull();
    expect(store.get('f')).not.toBeNull();
    expect(store.stats()).toMatchObject({ entries: 2, bytes: 650, evictions: 4 });
  });

  it('replacing a key charges the new size only', () => {
    const { store } = setup();
    store.set('a', entry(300));
    store.set('a', entry(200));
    expect(store.stats()).toMatchObject({ entries: 1, bytes: 200, evictions: 0 });
  });

  it('refuses entries over maxEntryBytes without touching the store', () => {
    const { store } = setup(1000, 400);
    const old = entry(100);
    store.set('a', old);
    expect(store.set('a', entry(401))).toBe(false);
    expect(store.get('a')).toBe(old);
    expect(store.stats()).toMatchObject({ entries: 1, bytes: 100 });
    expect(setup(300, 5000).store.set('x', entry(301))).toBe(false); // the budget caps the entry size too
  });

  it('expires entries by TTL on read and removes them', () => {
    const { clock, store } = setup();
    clock.t = 10;
    store.set('a', entry(100, { createdAt: 10, ttlMs: 50, tables: ['db.t'] }));
    clock.t = 59;
    expect(store.get('a')).not.toBeNull();
    clock.t = 60;
    expect(store.get('a')).toBeNull();
    expect(store.stats()).toMatchObject({ entries: 0, bytes: 0, hits: 1, misses: 1 });
    expect(store.invalidateTable('db.t')).toBe(0); // the table index forgot it too
    expect(store.set('b', entry(100, { createdAt: 0, ttlMs: 60 }))).toBe(false); // already expired: not stored
  });

  it('invalidates every entry that read a table, and only those', () => {
    const { store } = setup(10_000, 1000);
    store.set('ab', entry(100, { tables: ['db.a', 'db.b'] }));
    store.set('a', entry(100, { tables: ['db.a'] }));
    store.set('b', entry(100, { tables: ['db.b'] }));
    store.set('none', entry(100));
    expect(store.invalidateTable('db.a')).toBe(2);
    expect(store.get('ab')).toBeNull();
    expect(store.get('a')).toBeNull();
    expect(store.get('b')).not.toBeNull();
    expect(store.get('none')).not.toBeNull();
    expect(store.invalidateTable('db.a')).toBe(0);
    expect(store.invalidateTable('db.b')).toBe(1);
    expect(store.stats()).toMatchObject({ entries: 1, bytes: 100, invalidations: 3 });
  });

  it('index stays right after eviction, delete and replacement', () => {
    const { store } = setup(250, 250);
    store.set('a', entry(100, { tables: ['t'] }));
    store.set('b', entry(100, { tables: ['t'] }));
    store.set('c', entry(100, { tables: ['u'] })); // evicts a
    expect(store.delete('b')).toBe(true);
    expect(store.delete('b')).toBe(false);
    store.set('c', entry(100, { tables: ['t'] })); // c now reads t, not u
    expect(store.invalidateTable('u')).toBe(0);
    expect(store.invalidateTable('t')).toBe(1);
    expect(store.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('refuses a result whose table was invalidated while it ran', () => {
    const { store } = setup();
    const mark = store.invalidationMark();
    store.invalidateTable('db.other');
    expect(store.set('x', entry(100, { tables: ['db.t'] }), mark)).toBe(true);
    const mark2 = store.invalidationMark();
    store.invalidateTable('db.t');
    expect(store.set('y', entry(100, { tables: ['db.t'] }), mark2)).toBe(false);
    expect(store.set('y', entry(100, { tables: ['db.t'] }), store.invalidationMark())).toBe(true);
  });

  it('stays within budget under a random workload', () => {
    const { clock, store } = setup(5000, 900);
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let i = 0; i < 5000; i++) {
      clock.t += rnd(3);
      const key = `k${rnd(40)}`;
      const op = rnd(10);
      if (op < 5) store.set(key, entry(100 + rnd(900), { createdAt: clock.t, ttlMs: 50 + rnd(200), tables: [`t${rnd(5)}`] }));
      else if (op < 9) store.get(key);
      else store.invalidateTable(`t${rnd(5)}`);
      expect(store.stats().bytes).toBeLessThanOrEqual(5000);
    }
  });
});

describe('MemoryStore expiry without reads', () => {
  it('drops expired least-recently-used entries as new ones are stored, so one-off entries do not pile up', () => {
    const clock = { t: 0 };
    const store = new MemoryStore({ maxBytes: 1 << 30, maxEntryBytes: 1 << 20, now: () => clock.t });
    const e = () => makeEntry({ createdAt: clock.t, ttlMs: 100, tables: [], revision: 54412, packets: Buffer.from([1]), index: Uint32Array.from([1, 0]) });
    for (let i = 0; i < 1000; i++) {
      store.set(`k${i}`, e());
      clock.t += 10; // each entry lives 100 ms: about 10 are alive at any time
    }
    expect(store.stats().entries).toBeLessThanOrEqual(16);
  });
});
