import type { BackendTarget } from './backend-connection';
import type { ReplicaHealth } from './health';

/** A reader the balancer may choose; weight > 0, relative to the other readers. */
export interface WeightedTarget {
  target: BackendTarget;
  weight: number;
}

/**
 * Chooses a reader for each read: power of two choices (Mitzenmacher) on outstanding queries
 * divided by weight, among readers that are neither banned nor excluded, preferring those that
 * do not lag. The two candidates are drawn weighted by weight; when they tie, the choice is a
 * weighted draw among all readers at that score, so an idle cluster splits reads exactly in
 * proportion to weight while a loaded one steers away from the busier (or slower) reader.
 * Readers are keyed by target name.
 */
export class Balancer {
  private readonly readers: WeightedTarget[];
  private readonly counts = new Map<string, number>();

  constructor(
    readers: WeightedTarget[],
    private readonly health: ReplicaHealth | null,
    private readonly random: () => number = Math.random,
  ) {
    const names = new Set<string>();
    for (const r of readers) {
      if (!(r.weight > 0 && Number.isFinite(r.weight))) {
        throw new RangeError(`reader ${r.target.name}: weight must be a positive number (got ${r.weight})`);
      }
      if (names.has(r.target.name)) throw new RangeError(`reader name ${JSON.stringify(r.target.name)} used twice`);
      names.add(r.target.name);
    }
    this.readers = readers.map((r) => ({ target: r.target, weight: r.weight }));
    health?.addOutstandingSource?.((name) => this.counts.get(name) ?? 0);
  }

  /**
   * A reader for the next read, or null when none is available (the caller falls back to the writer
   * or answers 279). `exclude` holds names of readers already tried for this query. If every
   * available reader lags, the least lagging one is chosen: stale data beats no data.
   */
  pick(exclude?: ReadonlySet<string>): BackendTarget | null {
    const up: WeightedTarget[] = [];
    for (const r of this.readers) {
      if (exclude?.has(r.target.name)) continue;
      if (this.health?.isBanned(r.target)) continue;
      up.push(r);
    }
    if (up.length === 0) return null;
    const fresh = this.health ? up.filter((r) => !this.health?.isLagging(r.target)) : up;
    return this.choose(fresh.length > 0 ? fresh : this.leastLagging(up)).target;
  }

  /** A query started on `target` (call once per query, with release() when it ends). */
  acquire(target: BackendTarget): void {
    this.counts.set(target.name, (this.counts.get(target.name) ?? 0) + 1);
  }

  release(target: BackendTarget): void {
    const n = this.counts.get(target.name) ?? 0;
    if (n <= 1) this.counts.delete(target.name);
    else this.counts.set(target.name, n - 1);
  }

  /** Queries in flight on `target` through this balancer. */
  outstanding(target: BackendTarget): number {
    return this.counts.get(target.name) ?? 0;
  }

  private leastLagging(candidates: WeightedTarget[]): WeightedTarget[] {
    const delay = (r: WeightedTarget): number => this.health?.replicaDelaySeconds(r.target) ?? Infinity;
    let min = Infinity;
    for (const r of candidates) min = Math.min(min, delay(r));
    const least = candidates.filter((r) => delay(r) === min);
    return least.length > 0 ? least : candidates;
  }

  private score(r: WeightedTarget): number {
    return this.outstanding(r.target) / r.weight;
  }

  private choose(candidates: WeightedTarget[]): WeightedTarget {
    if (candidates.length === 1) return candidates[0];
    const a = this.draw(candidates);
    const b = this.draw(candidates.filter((r) => r !== a));
    const sa = this.score(a);
    const sb = this.score(b);
    if (sa !== sb) return sa < sb ? a : b;
    // A tie (typically idle readers): smooth weighted round robin over the tied readers (nginx's
    // algorithm), so sequential queries alternate by weight. Its state is bounded by the weights:
    // a reader that was away does not owe or get owed a backlog when it returns.
    const tied = candidates.filter((r) => this.score(r) === sa);
    let total = 0;
    let best: WeightedTarget | null = null;
    for (const r of tied) {
      const cw = (this.current.get(r.target.name) ?? 0) + r.weight;
      this.current.set(r.target.name, cw);
      total += r.weight;
      if (!best || cw > (this.current.get(best.target.name) ?? 0)) best = r;
    }
    this.current.set(best!.target.name, (this.current.get(best!.target.name) ?? 0) - total);
    return best!;
  }

  /** Smooth weighted round robin's current weights (only tie picks move them). */
  private readonly current = new Map<string, number>();

  /** One candidate drawn with probability proportional to its weight. */
  private draw(candidates: WeightedTarget[]): WeightedTarget {
    let total = 0;
    for (const r of candidates) total += r.weight;
    let x = this.random() * total;
    for (const r of candidates) {
      x -= r.weight;
      if (x < 0) return r;
    }
    return candidates[candidates.length - 1];
  }
}
