/**
 * The proxy's side of the result cache: one store (memory or Redis), the flights in progress in this process, and
 * the rule that a store failure never reaches a client (the query bypasses the cache and a metric says why).
 */
import { StoreUnavailableError, type CacheStore, type Entry, type StoreLock, type StoreMark } from '../cache';
import type { ClientCompression, Limits } from '../protocol';
import { Flight, type FlightOwner } from './cache-flight';
import { FeedPublisher, followFeed, type FeedOptions } from './cache-feed';
import type { BypassReason, CachePlan } from './cache-policy';

/** What the cache reports (Metrics in production, counters in tests). */
export interface CacheEvents {
  hit(): void;
  miss(): void;
  stored(): void;
  bypass(reason: BypassReason): void;
  invalidated(entries: number): void;
  singleflightWait(scope: 'process' | 'cluster'): void;
  staleServed(): void;
  refresh(): void;
  /** A shared execution went on after its last client here left: clients of other instances read its feed. */
  runKept(): void;
}

export interface ResultCacheOptions {
  maxEntryBytes: number;
  /** How long a follower waits for another instance's execution of the same key. */
  lockTimeoutMs: number;
  limits: Limits;
  /** A client of a shared execution that does not read for this long is dropped (streaming.max_paused_ms). */
  maxPausedMs?: number;
  log: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/** A store call's failure as a bypass reason. */
export function failureReason(e: unknown): BypassReason {
  if (e instanceof StoreUnavailableError) return `store_${e.reason}` as BypassReason;
  return 'store_error';
}

interface Lead {
  /** The mark its entry is stored with (null: nothing to store, e.g. another instance's execution is followed). */
  mark: StoreMark | null;
  lock: StoreLock | null;
}

/** An execution clients may join (a native Flight or an HttpFlight), as read-your-writes sees it. */
export interface JoinableRun {
  /** The tables its query reads (the cache plan's, ALL_TABLES included). */
  readonly tables: readonly string[];
  /** The mark a joining client's check compares with (joinCheck); null: none yet, or nothing to compare. */
  readonly joinMark: StoreMark | null;
  closeToJoiners(): void;
}

/**
 * A write to `written` was seen: the executions that read one of those tables may predate it, and are closed to new
 * clients (ALL_TABLES is in every execution's tables, so a write whose tables are unknown closes them all).
 */
export function closeRunsReading(runs: Iterable<JoinableRun>, written: readonly string[]): void {
  for (const r of runs) if (written.some((t) => r.tables.includes(t))) r.closeToJoiners();
}

export class ResultCache implements FlightOwner {
  private readonly flights = new Map<string, Flight>();
  /** Told the tables of every invalidation (the HTTP port's flights: HttpFlights.add subscribes them). */
  private readonly invalidationWatchers = new Set<(tables: readonly string[]) => void>();
  private readonly leads = new Map<Flight, Lead>();
  /** Stores in progress, so close() can wait for them. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    readonly store: CacheStore,
    readonly events: CacheEvents,
    private readonly o: ResultCacheOptions,
  ) {}

  get lockTimeoutMs(): number {
    return this.o.lockTimeoutMs;
  }

  /** The entry under `key`, null on a miss, or why the store could not say. */
  async get(key: string): Promise<Entry | null | { bypass: BypassReason }> {
    try {
      return await this.store.get(key);
    } catch (e) {
      this.storeFailed('get', e);
      return { bypass: failureReason(e) };
    }
  }

  /** A flight in progress for `key` that a client can still join. */
  joinable(key: string): Flight | null {
    const f = this.flights.get(key);
    return f !== undefined && f.joinable ? f : null;
  }

  /** Whether the flight of `key` still runs but is closed to joiners by a write (Flight.predatesWrite). */
  predatesWrite(key: string): boolean {
    return this.flights.get(key)?.predatesWrite === true;
  }

  /** Starts the flight of `key` (replacing one nobody can join any more). */
  newFlight(plan: CachePlan, wire: ClientCompression | null, revision: number, background = false): Flight {
    const f = new Flight(plan.key, this, {
      wire,
      maxEntryBytes: this.o.maxEntryBytes,
      ttlMs: plan.ttlMs,
      tables: plan.tables,
      revision,
      limits: this.o.limits,
      maxPausedMs: this.o.maxPausedMs ?? 0,
      background,
    });
    this.flights.set(plan.key, f);
    this.leads.set(f, { mark: null, lock: null });
    return f;
  }

  /**
   * What the leader does before the backend query: take the invalidation mark, then the cross-instance lock.
   * Returns 'run' (lead: run the query), 'followed' (another instance ran it and its result was relayed to this
   * flight as it streamed), an Entry (another instance produced it) or a bypass (store failed: run, store nothing).
   * `unlocked`: the key's lock may be held by an execution that predates a write (this instance's, closed to joiners):
   * run without it rather than wait for or follow that execution (others do not coalesce with this one).
   */
  async prepareLead(flight: Flight, plan: CachePlan, unlocked = false): Promise<'run' | 'followed' | Entry | { bypass: BypassReason }> {
    const lead = this.leads.get(flight)!;
    try {
      lead.mark = await this.store.mark(plan.tables);
      // A followed execution is checked against this mark too: followFeed follows only one whose mark is the same.
      flight.joinMark = lead.mark;
      if (unlocked) return 'run';
      lead.lock = await this.store.lock(plan.key, this.o.lockTimeoutMs);
      const feed = this.store.feed;
      if (lead.lock !== null) {
        // Clients of the same query on other instances read the result from the store as it arrives.
        if (feed) flight.setTap(new FeedPublisher(feed, lead.lock.token, this.feedOptions(plan.key, lead.mark)));
        return 'run';
      }
      // Another instance runs it: follow its result as it streams (or wait for its entry), then run it ourselves
      // if that instance goes away first.
      this.events.singleflightWait('cluster');
      if (feed) {
        const mark = lead.mark;
        lead.mark = null; // the producer stores the entry, not us
        if ((await followFeed(this.store, feed, flight, this.feedOptions(plan.key, mark))) === 'done') return 'followed';
        lead.mark = mark;
        return 'run';
      }
      const entry = await this.store.waitForEntry(plan.key, this.o.lockTimeoutMs);
      if (entry !== null) return entry;
      lead.mark = await this.store.mark(plan.tables);
      flight.joinMark = lead.mark;
      return 'run';
    } catch (e) {
      lead.mark = null;
      this.storeFailed('prepare', e);
      return { bypass: failureReason(e) };
    }
  }

  private feedOptions(key: string, mark: StoreMark | null): FeedOptions {
    return { key, lockTimeoutMs: this.o.lockTimeoutMs, maxFeedBytes: 4 * this.o.maxEntryBytes, log: this.o.log, onKept: () => this.events.runKept(), mark };
  }

  /** FlightOwner: the result ended; store it when complete and recorded, free the lock either way. */
  complete(flight: Flight, entry: Entry | null, overCap: boolean): void {
    if (this.flights.get(flight.key) === flight) this.flights.delete(flight.key);
    if (overCap) this.events.bypass('too_large');
    const lead = this.leads.get(flight);
    this.leads.delete(flight);
    if (lead === undefined) return;
    const work = (async () => {
      if (entry !== null && lead.mark !== null) {
        try {
          if (await this.store.set(flight.key, entry, lead.mark)) this.events.stored();
          else this.events.bypass('not_stored'); // over the cap, or a table was invalidated while it ran
        } catch (e) {
          this.storeFailed('set', e);
          this.events.bypass(failureReason(e));
        }
      }
      if (lead.lock !== null) await lead.lock.release().catch((e: unknown) => this.storeFailed('unlock', e));
    })();
    this.track(work);
  }

  /** Largest entry kept (the recorders give up past it). */
  get maxEntryBytes(): number {
    return this.o.maxEntryBytes;
  }

  /** An invalidation mark for a read that does not go through a flight (the HTTP port); null when the store failed. */
  async markFor(tables: readonly string[]): Promise<StoreMark | null> {
    try {
      return await this.store.mark(tables);
    } catch (e) {
      this.storeFailed('mark', e);
      this.events.bypass(failureReason(e));
      return null;
    }
  }

  /** Stores a complete result recorded outside a flight (the HTTP port), as complete() does for flights. */
  put(key: string, entry: Entry, mark: StoreMark): void {
    this.track(
      (async () => {
        try {
          if (await this.store.set(key, entry, mark)) this.events.stored();
          else this.events.bypass('not_stored');
        } catch (e) {
          this.storeFailed('set', e);
          this.events.bypass(failureReason(e));
        }
      })(),
    );
  }

  /**
   * Removes the entries that read `tables`. Never rejects: a store that is down cannot hold entries to invalidate
   * for long (its entries expire by TTL) and the write must go on.
   */
  async invalidate(tables: readonly string[]): Promise<void> {
    if (tables.length === 0) return;
    // Before the store, so before the write's answer: a client that asks after it must not join an execution that
    // started before the write and may not contain it (read-your-writes through single-flight).
    closeRunsReading(this.flights.values(), tables);
    for (const w of this.invalidationWatchers) w(tables);
    try {
      this.events.invalidated(await this.store.invalidate(tables));
    } catch (e) {
      this.storeFailed('invalidate', e);
    }
  }

  /**
   * Before a client joins a running execution: with a store shared by several instances, a write made through another
   * instance is not seen here, but it moved the store's counters of the tables it wrote. Resolves false (and closes
   * the execution to later joiners) when a table of its joinMark was invalidated since the execution took it: the client
   * runs its own, so an answer that may predate a write it made elsewhere is never given to it. null when there is
   * nothing to ask (a store of this process only, or no mark); true when the store cannot tell (as without a check).
   */
  joinCheck(flight: JoinableRun): Promise<boolean> | null {
    if (flight.joinMark === null || this.store.changedSince === undefined) return null;
    return this.store.changedSince(flight.joinMark).then(
      (changed) => {
        if (changed) flight.closeToJoiners();
        return !changed;
      },
      () => true,
    );
  }

  /** Calls `fn` with the tables of every invalidation from now on; returns the way to stop. */
  watchInvalidations(fn: (tables: readonly string[]) => void): () => void {
    this.invalidationWatchers.add(fn);
    return () => this.invalidationWatchers.delete(fn);
  }

  /** For /status: the store, its counters and the executions in flight. */
  status(): Record<string, unknown> {
    return { store: this.store.kind, ...this.store.stats(), flights: this.flights.size };
  }

  /** Waits for stores in progress, then closes the store. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await this.store.close();
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private storeFailed(op: string, e: unknown): void {
    this.o.log('debug', 'cache store call failed; the query bypasses the cache', { op, error: (e as Error).message });
  }
}
