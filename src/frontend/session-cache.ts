/**
 * A client session's use of the result cache: a cacheable read waits for the end of the client's data (the empty
 * block after the Query; external tables make it uncacheable), then is answered from the store (hit), joins the
 * flight already running for its key (single-flight), or leads a new flight on a backend (miss).
 */
import { entryPackets, type Entry } from '../cache';
import { encodeForClient, ServerCode, type ClientCompression } from '../protocol';
import type { ClientSink } from './client-sink';
import type { Flight, FlightSubscriber, QueryOutcome } from './cache-flight';
import { cachePolicy, type CacheDecision, type CachePlan, type CachePolicyInput } from './cache-policy';
import type { ResultCache } from './result-cache';
import type { Attempt, QueryInfo, SessionEvents } from './session-types';
import type { Route } from './targets';

/** Cache settings a session needs (from the `cache:` config section). */
export interface SessionCacheConfig {
  cache: ResultCache;
  ttlSeconds: number;
  softTtlSeconds: number | null;
  rule: CachePolicyInput['rule'];
}

/** What the cache path needs from its session. */
export interface CacheHost {
  readonly sink: ClientSink;
  readonly events: SessionEvents;
  isClosed(): boolean;
  /** Places the attempt on a backend (the session's runAttempt); the attempt's flight is its sink. */
  place(at: Attempt): Promise<void> | void;
  /** The query ended for this client: free its slot, count it, go on with the client's next packet. */
  ended(at: Attempt, route: Route | 'local', outcome: QueryOutcome): void;
  /** Who runs `at`, for events. */
  info(at: Attempt): QueryInfo;
  /** A fresh copy of `at` for a background refresh (no client slot, nothing tried yet). */
  refreshAttempt(at: Attempt): Attempt;
}

interface Pending {
  /** The cache configuration when the query arrived (a reload changes later queries only). */
  cfg: SessionCacheConfig;
  at: Attempt;
  plan: CachePlan;
  revision: number;
  /** How the client reads blocks (from its Query and the session's SETs). */
  compression: ClientCompression | null;
}

export class SessionCache {
  private pending: Pending | null = null;
  private current: { flight: Flight; sub: FlightSubscriber } | null = null;
  private replaying = false;

  constructor(
    private readonly host: CacheHost,
    /** The current cache configuration (null: the cache is off), read once per query. */
    private readonly source: () => SessionCacheConfig | null,
  ) {}

  /** True from a held Query until its last packet reached the client. */
  get busy(): boolean {
    return this.pending !== null || this.current !== null || this.replaying;
  }

  /** The cache configuration for a query arriving now; null when the cache is off. */
  get config(): SessionCacheConfig | null {
    return this.source();
  }

  /** The cache decision of a read under `cfg` (counts a bypass when it is not cacheable). */
  decide(cfg: SessionCacheConfig, input: Omit<CachePolicyInput, 'ttlSeconds' | 'softTtlSeconds' | 'rule'>): CacheDecision {
    const d = cachePolicy({ ...input, ttlSeconds: cfg.ttlSeconds, softTtlSeconds: cfg.softTtlSeconds, rule: cfg.rule });
    if (!d.cache) cfg.cache.events.bypass(d.reason);
    return d;
  }

  /** Holds a cacheable read until the client's data ends. */
  hold(cfg: SessionCacheConfig, at: Attempt, plan: CachePlan, revision: number, compression: ClientCompression | null): void {
    this.pending = { cfg, at, plan, revision, compression };
  }

  /**
   * A client Data packet while a read is held. The empty block ends the client's data: the read goes on through the
   * cache. Anything else is an external table: the read is not cacheable and runs now (its packets are replayed).
   */
  onClientData(endOfData: boolean): Promise<void> | void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    if (!endOfData) {
      pending.cfg.cache.events.bypass('external_tables');
      return this.runUncached(pending.at);
    }
    return this.resolve(pending);
  }

  /** True while a read waits for the end of the client's data. */
  get holding(): boolean {
    return this.pending !== null;
  }

  /** The client's Cancel. */
  cancel(): void {
    if (this.current) this.current.flight.cancel(this.current.sub);
  }

  /** The client went away. */
  close(): void {
    // The session's close frees the query's slot (its attempt), whatever state the cache path is in.
    this.pending = null;
    if (this.current) {
      const { flight, sub } = this.current;
      this.current = null;
      flight.leave(sub);
    }
  }

  private runUncached(at: Attempt): Promise<void> | void {
    this.host.events.query(at.route, at.cls.kind, this.host.info(at));
    return this.host.place(at);
  }

  private async resolve({ cfg, at, plan, revision, compression }: Pending): Promise<void> {
    const cache = cfg.cache;
    const got = await cache.get(plan.key);
    if (this.host.isClosed()) return;
    if (got !== null && 'bypass' in got) {
      cache.events.bypass(got.bypass);
      return this.runUncached(at);
    }
    if (got !== null) {
      cache.events.hit();
      this.host.events.query('local', at.cls.kind, this.host.info(at));
      const stale = plan.softTtlMs !== null && Date.now() - got.createdAt >= plan.softTtlMs;
      if (stale) this.refresh(cache, at, plan, revision, compression);
      await this.replay(got, compression);
      this.host.ended(at, 'local', {});
      return;
    }
    cache.events.miss();
    const running = cache.joinable(plan.key);
    if (running !== null) {
      // With a shared store: not an execution that predates a write made through another instance (joinCheck).
      const check = cache.joinCheck(running);
      const join = check === null || (await check);
      if (this.host.isClosed()) return;
      if (join && running.joinable) {
        cache.events.singleflightWait('process');
        this.host.events.query('local', at.cls.kind, this.host.info(at));
        this.follow(running, at, compression);
        return;
      }
    }
    const unlocked = cache.predatesWrite(plan.key);
    const flight = cache.newFlight(plan, compression, revision);
    const leader = this.follow(flight, at, compression);
    return this.lead(cache, flight, at, plan, leader, unlocked);
  }

  /** Reads `flight` as one of its subscribers; the returned route is where the query is counted (`local` unless it leads). */
  private follow(flight: Flight, at: Attempt, compression: ClientCompression | null): { route: Route | 'local' } {
    const counted: { route: Route | 'local' } = { route: 'local' };
    const sub: FlightSubscriber = {
      sink: this.host.sink,
      compression,
      onEnd: (outcome) => {
        if (this.current?.sub === sub) this.current = null;
        this.host.ended(at, counted.route, outcome);
      },
    };
    this.current = { flight, sub };
    flight.join(sub);
    return counted;
  }

  /** Runs the backend query of a new flight (or serves another instance's result for the same key). */
  private async lead(
    cache: ResultCache,
    flight: Flight,
    at: Attempt,
    plan: CachePlan,
    counted: { route: Route | 'local' } | null,
    unlocked = false,
  ): Promise<void> {
    const prepared = await cache.prepareLead(flight, plan, unlocked);
    if (prepared === 'followed') {
      if (counted) this.host.events.query('local', at.cls.kind, this.host.info(at));
      return;
    }
    if (prepared !== 'run' && !('bypass' in prepared)) {
      if (counted) this.host.events.query('local', at.cls.kind, this.host.info(at));
      flight.serveEntry(prepared as Entry);
      return;
    }
    if (prepared !== 'run') cache.events.bypass(prepared.bypass);
    if (flight.finished) return; // everyone left while the store was asked
    at.flight = flight;
    if (counted) counted.route = at.route;
    this.host.events.query(at.route, at.cls.kind, this.host.info(at));
    return this.host.place(at);
  }

  /** Stale-while-revalidate: one background execution refreshes the entry (unless one already runs). */
  private refresh(cache: ResultCache, at: Attempt, plan: CachePlan, revision: number, compression: ClientCompression | null): void {
    if (cache.joinable(plan.key) !== null) return;
    cache.events.staleServed();
    cache.events.refresh();
    const flight = cache.newFlight(plan, compression, revision, true);
    void this.lead(cache, flight, this.host.refreshAttempt(at), plan, null);
  }

  /** Writes a stored result to the client packet by packet, waiting whenever its socket is full. */
  private async replay(entry: Entry, compression: ClientCompression | null): Promise<void> {
    this.replaying = true;
    try {
      const sink = this.host.sink;
      for (const rec of entryPackets(entry)) {
        if (sink.closed) return;
        if (!sink.write(encodeForClient(rec, compression))) await new Promise<void>((resolve) => sink.onDrain(resolve));
      }
      sink.write([END_OF_STREAM], END_OF_STREAM_PACKET);
    } finally {
      this.replaying = false;
    }
  }
}

const END_OF_STREAM = Buffer.from([ServerCode.EndOfStream]);
const END_OF_STREAM_PACKET = { code: ServerCode.EndOfStream };
