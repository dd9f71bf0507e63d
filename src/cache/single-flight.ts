/**
 * In-process coalescing: identical cache misses in flight share one backend execution. The first caller of a key runs
 * `fn`; later callers of the same key get the same promise until it settles, then the key is free again (a failure is
 * not remembered: the next caller runs `fn` anew).
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  /** Runs `fn` for `key` unless a run for `key` is in flight, in which case its promise is shared. */
  run(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running !== undefined) return running;
    let p: Promise<T>;
    try {
      p = Promise.resolve(fn());
    } catch (e) {
      p = Promise.reject(e); // a synchronous throw fails the run like a rejection
    }
    this.inFlight.set(key, p);
    const clear = (): void => {
      if (this.inFlight.get(key) === p) this.inFlight.delete(key);
    };
    // Handles both outcomes on a side chain, so this bookkeeping never causes an unhandled rejection.
    p.then(clear, clear);
    return p;
  }

  /** True while a run for `key` is in flight. */
  has(key: string): boolean {
    return this.inFlight.has(key);
  }

  /** Number of keys in flight. */
  get size(): number {
    return this.inFlight.size;
  }
}
