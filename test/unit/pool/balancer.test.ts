/** Replica choice: weighted power of two choices on outstanding queries, bans, lag, exclusions. */
import fc from 'fast-check';
import {
  Balancer,
  HealthMonitor,
  DEFAULT_REPLICA_DELAY_QUERY,
  type BackendTarget,
  type ReplicaHealth,
  type WeightedTarget,
} from '../../../src/pool';

/** mulberry32: a small seeded PRNG, so every run draws the same sequence. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function target(name: string, port = 9000): BackendTarget {
  return { name, host: '127.0.0.1', port };
}

const R1 = target('reader1', 9001);
const R2 = target('reader2', 9002);
const R3 = target('reader3', 9003);

/** A health view the test sets by hand. */
class FakeHealth implements ReplicaHealth {
  banned = new Set<string>();
  delays = new Map<string, number>();
  maxDelay = 10;
  isBanned(t: BackendTarget): boolean {
    return this.banned.has(t.name);
  }
  isLagging(t: BackendTarget): boolean {
    return (this.delays.get(t.name) ?? 0) > this.maxDelay;
  }
  replicaDelaySeconds(t: BackendTarget): number | null {
    return this.delays.get(t.name) ?? null;
  }
}

function counts(b: Balancer, n: number, exclude?: ReadonlySet<string>): Map<string, number> {
  const c = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const t = b.pick(exclude);
    const k = t ? t.name : 'null';
    c.set(k, (c.get(k) ?? 0) + 1);
  }
  return c;
}

describe('Balancer: weights', () => {
  test('idle readers share reads in proportion to weight (1:2)', () => {
    const b = new Balancer([{ target: R1, weight: 1 }, { target: R2, weight: 2 }], null, seeded(1));
    const c = counts(b, 30_000);
    expect((c.get('reader2') ?? 0) / 30_000).toBeCloseTo(2 / 3, 1);
    expect(Math.abs((c.get('reader2') ?? 0) / 30_000 - 2 / 3)).toBeLessThan(0.015);
  });

  test('three readers 1:1:2 get 25% / 25% / 50% when idle', () => {
    const b = new Balancer(
      [{ target: R1, weight: 1 }, { target: R2, weight: 1 }, { target: R3, weight: 2 }],
      null,
      seeded(2),
    );
    const c = counts(b, 40_000);
    expect(Math.abs((c.get('reader1') ?? 0) / 40_000 - 0.25)).toBeLessThan(0.015);
    expect(Math.abs((c.get('reader2') ?? 0) / 40_000 - 0.25)).toBeLessThan(0.015);
    expect(Math.abs((c.get('reader3') ?? 0) / 40_000 - 0.5)).toBeLessThan(0.015);
  });

  /**
   * Closed-loop load: `inflight` queries always running, each finishing after the same number of
   * steps; a finished query is replaced by a new pick. Weight 2 should take about twice the reads.
   */
  test('under equal sustained load, weight 2 gets about twice the reads of weight 1', () => {
    const b = new Balancer([{ target: R1, weight: 1 }, { target: R2, weight: 2 }], null, seeded(3));
    const got = simulate(b, { reader1: 8, reader2: 8 }, 16, 20_000);
    const ratio = got.reader2 / got.reader1;
    expect(ratio).toBeGreaterThan(1.7);
    expect(ratio).toBeLessThan(2.3);
  });

  test('a slow reader gets fewer reads', () => {
    const b = new Balancer([{ target: R1, weight: 1 }, { target: R2, weight: 1 }], null, seeded(4));
    // reader2's queries take 4× as long.
    const got = simulate(b, { reader1: 5, reader2: 20 }, 16, 20_000);
    expect(got.reader1).toBeGreaterThan(2.5 * got.reader2);
  });

  test('rejects a non-positive weight and a duplicate name', () => {
    expect(() => new Balancer([{ target: R1, weight: 0 }], null)).toThrow(RangeError);
    expect(() => new Balancer([{ target: R1, weight: Number.NaN }], null)).toThrow(RangeError);
    expect(() => new Balancer([{ target: R1, weight: 1 }, { target: R1, weight: 1 }], null)).toThrow(/twice/);
  });
});

/** Runs a discrete-time closed loop; `duration` maps a reader to how many steps its queries take. */
function simulate(b: Balancer, duration: Record<string, number>, inflight: number, steps: number): Record<string, number> {
  const running: { t: BackendTarget; endsAt: number }[] = [];
  const got: Record<string, number> = {};
  for (const name of Object.keys(duration)) got[name] = 0;
  for (let now = 0; now < steps; now++) {
    for (let i = running.length - 1; i >= 0; i--) {
      if (running[i].endsAt <= now) {
        b.release(running[i].t);
        running.splice(i, 1);
      }
    }
    while (running.length < inflight) {
      const t = b.pick();
      if (!t) throw new Error('no reader');
      b.acquire(t);
      got[t.name]++;
      running.push({ t, endsAt: now + duration[t.name] });
    }
  }
  return got;
}

describe('Balancer: load', () => {
  test('the reader with fewer outstanding queries wins', () => {
    const b = new Balancer([{ target: R1, weight: 1 }, { target: R2, weight: 1 }], null, seeded(5));
    for (let i = 0; i < 3; i++) b.acquire(R1);
    expect(b.outstanding(R1)).toBe(3);
    for (let i = 0; i < 200; i++) expect(b.pick()).toBe(R2);
    b.release(R1);
    b.release(R1);
    b.release(R1);
    b.release(R1); // one too many: stays at 0
    expect(b.outstanding(R1)).toBe(0);
  });

  test('outstanding is divided by weight', () => {
    // reader1: 2 / 3 ≈ 0.67, reader2: 1 / 1 = 1 → reader1
    const b = new Balancer([{ target: R1, weight: 3 }, { target: R2, weight: 1 }], null, seeded(6));
    b.acquire(R1);
    b.acquire(R1);
    b.acquire(R2);
    for (let i = 0; i < 200; i++) expect(b.pick()).toBe(R1);
    b.acquire(R1); // 1 vs 1: a tie, both appear
    const c = counts(b, 2_000);
    expect(c.get('reader1')).toBeGreaterThan(1_300);
    expect(c.get('reader2')).toBeGreaterThan(300);
  });

  test('property: the busiest reader (strictly highest outstanding/weight) is never picked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ weight: fc.integer({ min: 1, max: 5 }), out: fc.integer({ min: 0, max: 20 }) }), {
          minLength: 2,
          maxLength: 6,
        }),
        fc.integer(),
        (specs, seed) => {
          const readers: WeightedTarget[] = specs.map((s, i) => ({ target: target(`r${i}`, 9000 + i), weight: s.weight }));
          const b = new Balancer(readers, null, seeded(seed));
          specs.forEach((s, i) => {
            for (let k = 0; k < s.out; k++) b.acquire(readers[i].target);
          });
          const scores = specs.map((s) => s.out / s.weight);
          const max = Math.max(...scores);
          const busiest = scores.filter((x) => x === max).length === 1 ? scores.indexOf(max) : -1;
          for (let k = 0; k < 20; k++) {
            const t = b.pick();
            expect(t).not.toBeNull();
            if (busiest >= 0) expect(t).not.toBe(readers[busiest].target);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Balancer: health, lag, exclusions', () => {
  const readers = (): WeightedTarget[] => [
    { target: R1, weight: 1 },
    { target: R2, weight: 1 },
    { target: R3, weight: 1 },
  ];

  test('skips banned readers; null when all are banned', () => {
    const h = new FakeHealth();
    const b = new Balancer(readers(), h, seeded(7));
    h.banned.add('reader1');
    const c = counts(b, 3_000);
    expect(c.has('reader1')).toBe(false);
    expect(c.get('reader2')).toBeGreaterThan(1_300);
    expect(c.get('reader3')).toBeGreaterThan(1_300);
    h.banned.add('reader2');
    h.banned.add('reader3');
    expect(b.pick()).toBeNull();
  });

  test('prefers readers that do not lag, even when they are busier', () => {
    const h = new FakeHealth();
    const b = new Balancer(readers(), h, seeded(8));
    h.delays.set('reader1', 60);
    h.delays.set('reader2', 30);
    for (let i = 0; i < 10; i++) b.acquire(R3);
    for (let i = 0; i < 500; i++) expect(b.pick()).toBe(R3);
  });

  test('when every available reader lags, the least lagging one is chosen', () => {
    const h = new FakeHealth();
    const b = new Balancer(readers(), h, seeded(9));
    h.delays.set('reader1', 60);
    h.delays.set('reader2', 30);
    h.delays.set('reader3', 45);
    for (let i = 0; i < 500; i++) expect(b.pick()).toBe(R2);
    // a fresh reader that is banned does not count as available
    h.delays.set('reader3', 0);
    h.banned.add('reader3');
    for (let i = 0; i < 500; i++) expect(b.pick()).toBe(R2);
  });

  test('honours the exclude set; null when every reader was tried', () => {
    const b = new Balancer(readers(), null, seeded(10));
    const c = counts(b, 3_000, new Set(['reader2']));
    expect(c.has('reader2')).toBe(false);
    expect(c.get('reader1')).toBeGreaterThan(1_300);
    expect(b.pick(new Set(['reader1', 'reader2']))).toBe(R3);
    expect(b.pick(new Set(['reader1', 'reader2', 'reader3']))).toBeNull();
  });

  test('null with no readers', () => {
    expect(new Balancer([], null).pick()).toBeNull();
  });

  test('with a HealthMonitor: passive failures ban a reader, status shows outstanding counts', () => {
    const h = new HealthMonitor(
      [
        { target: R1, role: 'reader', weight: 1 },
        { target: R2, role: 'reader', weight: 2 },
      ],
      () => ({ user: 'gh_reader', password: 'x' }),
      {
        intervalMs: 1_000,
        timeoutMs: 1_000,
        failuresToBan: 2,
        banMs: 60_000,
        maxBanMs: 60_000,
        maxReplicaDelaySeconds: null,
        replicaDelayQuery: DEFAULT_REPLICA_DELAY_QUERY,
      },
    );
    const b = new Balancer([{ target: R1, weight: 1 }, { target: R2, weight: 2 }], h, seeded(11));
    b.acquire(R2);
    b.acquire(R2);
    expect(h.status().map((s) => [s.name, s.outstanding, s.weight])).toEqual([
      ['reader1', 0, 1],
      ['reader2', 2, 2],
    ]);
    h.reportFailure(R2, 'Gatehouse: lost connection');
    h.reportFailure(R2, 'Gatehouse: lost connection');
    expect(h.isBanned(R2)).toBe(true);
    for (let i = 0; i < 100; i++) expect(b.pick()).toBe(R1);
    return h.close();
  });
});
