import fc from 'fast-check';
import {
  isLimitRefusal,
  UserLimiter,
  UserLimiters,
  type LimitRefusal,
  type Release,
  type UserLimitOptions,
} from '../../../src/frontend/user-limits';

const unlimited: UserLimitOptions = {
  maxConnections: null,
  maxConcurrentQueries: null,
  queueSize: 0,
  queueTimeoutMs: 0,
  maxQueriesPerSecond: null,
};
const opts = (o: Partial<UserLimitOptions>): UserLimitOptions => ({ ...unlimited, ...o });

function asRelease(r: Release | LimitRefusal): Release {
  if (isLimitRefusal(r)) throw new Error(`expected a release, got ${r.message}`);
  return r;
}

/** Lets promise callbacks run (fake timers do not fake microtasks). */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

beforeEach(() => jest.useFakeTimers());
afterEach(() => {
  expect(jest.getTimerCount()).toBe(0); // no timer left behind, in any test
  jest.useRealTimers();
});

describe('UserLimiter.connect (max_connections)', () => {
  it('refuses the connection over the cap with 202 naming the limit, and admits again after a release', () => {
    const l = new UserLimiter('app', opts({ maxConnections: 2 }));
    const a = asRelease(l.connect());
    asRelease(l.connect());
    expect(l.connect()).toEqual({ chCode: 202, limit: 'max_connections', message: 'Gatehouse: user app has reached max_connections (2)' });
    expect(l.stats()).toEqual({ connections: 2, running: 0, queued: 0 });
    a();
    expect(l.stats().connections).toBe(1);
    asRelease(l.connect());
    expect(isLimitRefusal(l.connect())).toBe(true);
  });

  it('releases are idempotent', () => {
    const l = new UserLimiter('app', opts({ maxConnections: 1 }));
    const a = asRelease(l.connect());
    a();
    a();
    a();
    expect(l.stats().connections).toBe(0);
    const b = asRelease(l.connect());
    expect(isLimitRefusal(l.connect())).toBe(true); // the extra a() calls freed nothing more
    b();
  });

  it('is unlimited when maxConnections is null', () => {
    const l = new UserLimiter('app', unlimited);
    const rs = Array.from({ length: 1000 }, () => asRelease(l.connect()));
    expect(l.stats().connections).toBe(1000);
    rs.forEach((r) => r());
    expect(l.stats().connections).toBe(0);
  });
});

describe('UserLimiter.admit (max_concurrent_queries and its queue)', () => {
  it('admits at once while under the cap, without a timer', async () => {
    const l = new UserLimiter('app', opts({ maxConcurrentQueries: 2, queueSize: 5, queueTimeoutMs: 1000 }));
    const a = asRelease(await l.admit());
    const b = asRelease(await l.admit());
    expect(l.stats()).toEqual({ connections: 0, running: 2, queued: 0 });
    expect(jest.getTimerCount()).toBe(0);
    a();
    b();
    expect(l.stats().running).toBe(0);
  });

  it('queues FIFO and each release wakes exactly the next waiter, clearing its timer', async () => {
    const l = new UserLimiter('app', opts({ maxConcurrentQueries: 1, queueSize: 3, queueTimeoutMs: 10_000 }));
    const first = asRelease(await l.admit());
    const order: string[] = [];
    const releases = new Map<string, Release>();
    for (const name of ['q1', 'q2', 'q3']) {
      void l.admit().then((r) => {
        order.push(name);
        releases.set(name, asRelease(r));
      });
    }
    await flush();
    expect(l.stats()).toEqual({ connections: 0, running: 1, queued: 3 });
    expect(jest.getTimerCount()).toBe(3);
    expect(order).toEqual([]);

    first();
    await flush();
    expect(order).toEqual(['q1']);
    expect(l.stats()).toEqual({ connections: 0, running: 1, queued: 2 });
    expect(jest.getTimerCount()).toBe(2);

    releases.get('q1')!();
    releases.get('q1')!(); // idempotent: must not wake two
    await flush();
    expect(order).toEqual(['q1', 'q2']);
    expect(l.stats().running).toBe(1);

    releases.get('q2')!();
    await flush();
    expect(order).toEqual(['q1', 'q2', 'q3']);
    releases.get('q3')!();
    expect(l.stats()).toEqual({ connections: 0, running: 0, queued: 0 });
  });

  it('refuses with 202 when the queue is full', async () => {
    const l = new UserLimiter('app', opts({ maxConcurrentQueries: 1, queueSize: 1, queueTimeoutMs: 5000 }));
    const a = asRelease(await l.admit());
    const waiting = l.admit();
    expect(await l.admit()).toEqual({
      chCode: 202,
      limit: 'max_concurrent_queries',
      message: 'Gatehouse: user app has reached max_concurrent_queries (1) and its queue is full (queue_size 1)',
    });
    a();
    asRelease(await waiting)();
  });

  it('refuses at once with 202 when there is no queue (queue_size 0 or queue_timeout_ms 0)', async () => {
    for (const o of [{ queueSize: 0, queueTimeoutMs: 1000 }, { queueSize: 4, queueTimeoutMs: 0 }]) {
      const l = new UserLimiter('bob', opts({ maxConcurrentQueries: 3, ...o }));
      const rs = [asRelease(await l.admit()), asRelease(await l.admit()), asRelease(await l.admit())];
      expect(await l.admit()).toEqual({
        chCode: 202,
        limit: 'max_concurrent_queries',
        message: 'Gatehouse: user bob has reached max_concurrent_queries (3)',
      });
      expect(l.stats().queued).toBe(0);
      rs.forEach((r) => r());
    }
  });

  it('a waiter times out after queue_timeout_ms with 202, leaves the queue, and later releases skip it', async () => {
    const l = new UserLimiter('app', opts({ maxConcurrentQueries: 1, queueSize: 2, queueTimeoutMs: 1000 }));
    const a = asRelease(await l.admit());
    let result: Release | LimitRefusal | undefined;
    void l.admit().then((r) => (result = r));
    await flush();
    jest.advanceTimersByTime(999);
    await flush();
    expect(result).toBeUndefined();
    jest.advanceTimersByTime(1);
    await flush();
    expect(result).toEqual({
      chCode: 202,
      limit: 'max_concurrent_queries',
      message: 'Gatehouse: user app has reached max_concurrent_queries (1) and the query waited queue_timeout_ms (1000) for a slot',
    });
    expect(l.stats()).toEqual({ connections: 0, running: 1, queued: 0 });
    a();
    expect(l.stats().running).toBe(0);
  });

  it('waiters time out independently, each after its own wait', async () => {
    const l = new UserLimiter('app', opts({ maxConcurrentQueries: 1, queueSize: 2, queueTimeoutMs: 1000 }));
    const a = asRelease(await l.admit());
    const results: string[] = [];
    void l.admit().then((r) => results.push(`w1 ${isLimitRefusal(r) ? 'refused' : 'admitted'}`));
    jest.advanceTimersByTime(600);
    void l.admit().then((r) => {
      results.push(`w2 ${isLimitRefusal(r) ? 'refused' : 'admitted'}`);
      if (!isLimitRefusal(r)) r();
    });
    jest.advanceTimersByTime(400); // w1's deadline
    await flush();
    expect(results).toEqual(['w1 refused']);
    a(); // w2 still waiting (200 ms left): it gets the slot
    await flush();
    expect(results).toEqual(['w1 refused', 'w2 admitted']);
  });

  it('an aborted waiter leaves the queue at once (and an already aborted signal never queues)', async () => {
    const l = new UserLimiter('app', opts({ maxConcurrentQueries: 1, queueSize: 2, queueTimeoutMs: 60_000 }));
    const a = asRelease(await l.admit());
    const ac = new AbortController();
    const p = l.admit(ac.signal);
    const next = l.admit();
    expect(l.stats().queued).toBe(2);
    ac.abort();
    expect(await p).toMatchObject({ chCode: 202, limit: 'max_concurrent_queries' });
    expect(l.stats().queued).toBe(1);
    const pre = new AbortController();
    pre.abort();
    expect(isLimitRefusal(await l.admit(pre.signal))).toBe(true);
    expect(l.stats().queued).toBe(1);
    a();
    asRelease(await next)(); // the slot went to the waiter behind the aborted one
    expect(l.stats()).toEqual({ connections: 0, running: 0, queued: 0 });
  });

  it('uses unref\'d timers, so a queued query never keeps the process alive', async () => {
    jest.useRealTimers();
    const spy = jest.spyOn(global, 'setTimeout');
    try {
      const l = new UserLimiter('app', opts({ maxConcurrentQueries: 1, queueSize: 1, queueTimeoutMs: 60_000 }));
      const a = asRelease(await l.admit());
      const waiting = l.admit();
      const timer = spy.mock.results[spy.mock.results.length - 1].value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      a();
      asRelease(await waiting)();
    } finally {
      spy.mockRestore();
      jest.useFakeTimers();
    }
  });
});

describe('UserLimiter.admit (max_queries_per_second)', () => {
  function clock(): { now: () => number; advance: (ms: number) => void } {
    let t = 1_000_000;
    return { now: () => t, advance: (ms) => (t += ms) };
  }

  it('allows a burst of one second of rate, then refuses with 201 naming the limit, refilling continuously', async () => {
    const c = clock();
    const l = new UserLimiter('app', opts({ maxQueriesPerSecond: 4 }), c.now);
    for (let i = 0; i < 4; i++) asRelease(await l.admit())();
    expect(await l.admit()).toEqual({
      chCode: 201,
      limit: 'max_queries_per_second',
      message: 'Gatehouse: user app has exceeded max_queries_per_second (4)',
    });
    c.advance(249);
    expect(isLimitRefusal(await l.admit())).toBe(true);
    c.advance(1); // 250 ms = one token at 4/s
    asRelease(await l.admit())();
    expect(isLimitRefusal(await l.admit())).toBe(true);
    c.advance(60_000); // the bucket holds at most one second's worth
    for (let i = 0; i < 4; i++) asRelease(await l.admit())();
    expect(isLimitRefusal(await l.admit())).toBe(true);
  });

  it('a rate below 1 still allows one query, then one per 1/rate seconds', async () => {
    const c = clock();
    const l = new UserLimiter('app', opts({ maxQueriesPerSecond: 0.5 }), c.now);
    asRelease(await l.admit())();
    expect(isLimitRefusal(await l.admit())).toBe(true);
    c.advance(1999);
    expect(isLimitRefusal(await l.admit())).toBe(true);
    c.advance(1);
    asRelease(await l.admit())();
  });

  it('sustains exactly the rate over a long run', async () => {
    const c = clock();
    const l = new UserLimiter('app', opts({ maxQueriesPerSecond: 10 }), c.now);
    let admitted = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      for (let k = 0; k < 3; k++) {
        const r = await l.admit();
        if (!isLimitRefusal(r)) {
          admitted++;
          r();
        }
      }
      c.advance(10);
    }
    expect(admitted).toBe(10 + 10 * 10 - 1); // the initial burst of 10, then 10/s for 10 s (the last refill lands after the loop)
  });

  it('is checked before the concurrency limit: a rate refusal never takes a queue place', async () => {
    const c = clock();
    const l = new UserLimiter('app', opts({ maxQueriesPerSecond: 1, maxConcurrentQueries: 1, queueSize: 5, queueTimeoutMs: 1000 }), c.now);
    const a = asRelease(await l.admit());
    expect(await l.admit()).toMatchObject({ chCode: 201, limit: 'max_queries_per_second' });
    expect(l.stats()).toEqual({ connections: 0, running: 1, queued: 0 });
    a();
  });
});

describe('options on reload, and UserLimiters', () => {
  it('raising max_concurrent_queries admits waiters at once; lowering it cuts nothing', async () => {
    const l = new UserLimiter('app', opts({ maxConcurrentQueries: 1, queueSize: 5, queueTimeoutMs: 5000 }));
    const a = asRelease(await l.admit());
    const w1 = l.admit();
    const w2 = l.admit();
    l.setOptions(opts({ maxConcurrentQueries: 3, queueSize: 5, queueTimeoutMs: 5000 }));
    const [r1, r2] = [asRelease(await w1), asRelease(await w2)];
    expect(l.stats()).toEqual({ connections: 0, running: 3, queued: 0 });
    l.setOptions(opts({ maxConcurrentQueries: 1, queueSize: 0, queueTimeoutMs: 5000 }));
    expect(l.stats().running).toBe(3);
    expect(isLimitRefusal(await l.admit())).toBe(true);
    a();
    r1();
    expect(isLimitRefusal(await l.admit())).toBe(true); // still 1 running = the new cap
    r2();
    asRelease(await l.admit())();
  });

  it('a newly set rate starts with a full bucket; removing it lifts the limit', async () => {
    let t = 0;
    const l = new UserLimiter('app', unlimited, () => t);
    for (let i = 0; i < 10; i++) asRelease(await l.admit())();
    l.setOptions(opts({ maxQueriesPerSecond: 2 }));
    asRelease(await l.admit())();
    asRelease(await l.admit())();
    expect(isLimitRefusal(await l.admit())).toBe(true);
    t += 100;
    l.setOptions(opts({ maxQueriesPerSecond: null }));
    for (let i = 0; i < 10; i++) asRelease(await l.admit())();
  });

  it('gives one limiter per user name, shared, with new options applied on reload', async () => {
    const limiters = new UserLimiters();
    const a1 = limiters.get('app', opts({ maxConnections: 1 }));
    const a2 = limiters.get('app', opts({ maxConnections: 1 }));
    const b = limiters.get('bob', opts({ maxConnections: 1 }));
    expect(a1).toBe(a2);
    expect(a1).not.toBe(b);
    const rel = asRelease(a1.connect());
    expect(isLimitRefusal(a2.connect())).toBe(true); // shared by all of app's sessions
    asRelease(b.connect()); // bob is counted apart
    expect(limiters.get('app', opts({ maxConnections: 2 }))).toBe(a1);
    asRelease(a1.connect());
    expect(a1.options.maxConnections).toBe(2);
    expect(limiters.stats()).toEqual({
      app: { connections: 2, running: 0, queued: 0, limits: opts({ maxConnections: 2 }) },
      bob: { connections: 1, running: 0, queued: 0, limits: opts({ maxConnections: 1 }) },
    });
    rel();
  });
});

describe('invariants under random interleavings', () => {
  it('never runs more than the cap, never queues more than queue_size, and grants in arrival order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.oneof(fc.constant('admit' as const), fc.constant('release' as const), fc.integer({ min: 1, max: 700 })), {
          maxLength: 60,
        }),
        async (max, queueSize, steps) => {
          const l = new UserLimiter('p', opts({ maxConcurrentQueries: max, queueSize, queueTimeoutMs: 1000 }));
          const held: Release[] = [];
          const granted: number[] = [];
          let seq = 0;
          for (const step of steps) {
            if (step === 'admit') {
              const id = seq++;
              void l.admit().then((r) => {
                if (!isLimitRefusal(r)) {
                  granted.push(id);
                  held.push(r);
                }
              });
            } else if (step === 'release') {
              held.shift()?.();
            } else {
              jest.advanceTimersByTime(step);
            }
            await flush();
            const s = l.stats();
            expect(s.running).toBeLessThanOrEqual(max);
            expect(s.queued).toBeLessThanOrEqual(queueSize);
            expect(s.running).toBe(held.length);
            if (s.queued > 0) expect(s.running).toBe(max); // nobody waits while a slot is free
          }
          expect(granted).toEqual([...granted].sort((x, y) => x - y));
          jest.advanceTimersByTime(1000); // let every waiter time out
          await flush();
          held.forEach((r) => r());
          expect(l.stats()).toEqual({ connections: 0, running: 0, queued: 0 });
        },
      ),
      { numRuns: 200 },
    );
  });
});
