import type { BackendConnection, Pool } from '../pool';
import { clientCompression, type ClientCompression, type ClientQuery, type FramedPacket, type Setting } from '../protocol';
import { classifyCached, type Classification } from '../router';
import { writtenTables, type CachePlan } from './cache-policy';
import type { QueryOutcome } from './cache-flight';
import type { ClientSink } from './client-sink';
import { exceptionPacket, ProxyErrorCode, replyError, toReplyError } from './error-reply';
import { InvalidatingSink } from './invalidating-sink';
import type { PinnedSession } from './pinned-session';
import { planQuery } from './query-plan';
import { mergeSettings, rewriteQuery } from './query-rewrite';
import { QueryRun, type RunSink } from './query-run';
import type { SessionCache, SessionCacheConfig } from './session-cache';
import type { SessionContext } from './session-context';
import type { SessionStatements } from './session-statements';
import { isBackendFault, once, seconds, type Attempt, type Lease, type SessionDeps } from './session-types';
import { DEFAULT_GROUP, type Picked, type Route } from './targets';
import { isLimitRefusal } from './user-limits';

/** A Query on its way to a backend, between its plan and its admission by the user's concurrency limit. */
interface Placing {
  p: FramedPacket;
  q: ClientQuery;
  cls: Classification;
  route: Route;
  group: string;
  injected: Setting[];
  started: bigint;
  cachePlan: ReadCachePlan | null;
}

/** How a cacheable read uses the cache. */
interface ReadCachePlan {
  cfg: SessionCacheConfig;
  plan: CachePlan;
  compression: ClientCompression | null;
}

/** What query placement needs from its session. */
export interface PlacementHost {
  readonly isClosed: boolean;
  close(graceful?: boolean): void;
  /** Goes on with the client's next packet. */
  pump(): Promise<void>;
}

/**
 * From a client's Query to its end: classification and plan (refused, answered by the proxy, pinned, or routed),
 * read-your-writes, the result cache, the user's concurrency limit, then attempts on pooled backend connections
 * (a read that fails before any byte reached the client tries another reader) and the QueryRun relaying each.
 */
export class QueryPlacement {
  /** The query being placed (between its Query packet and its run's end). */
  attempt: Attempt | null = null;
  /** The run relaying the current query (cleared when it ends, or by the session when it closes). */
  run: QueryRun | null = null;
  /** After a Query the client sends Data packets until an empty block; an INSERT opens a second phase. */
  clientDataOpen = false;
  /** When this client last wrote (read-your-writes). */
  private lastWriteAt = 0;
  /** Part of sink.bytesOut already reported to the metrics. */
  private bytesReported = 0;

  constructor(
    private readonly host: PlacementHost,
    private readonly deps: SessionDeps,
    private readonly ctx: SessionContext,
    private readonly sink: ClientSink,
    private readonly cache: SessionCache,
    private readonly pinned: PinnedSession,
    private readonly statements: SessionStatements,
  ) {}

  /**
   * A Query packet from the client: places it (or answers it). Returns a promise only when it had to wait (the
   * user's concurrency limit, a pool with no idle connection, the cache): when the Query went to a backend at once,
   * the session handles the client's next packet (the empty Data block that follows every Query) in the same tick,
   * so both leave in one write and wake the server once (BackendConnection.write corks until the tick ends).
   */
  startQuery(p: FramedPacket): Promise<void> | void {
    const q = p.packet as ClientQuery;
    this.clientDataOpen = true;
    const cls = classifyCached(q.query);
    const { config } = this.deps;

    const plan = planQuery({
      q,
      cls,
      user: this.ctx.user,
      userName: this.ctx.user?.name ?? this.ctx.clientIdentity.user,
      database: this.ctx.database,
      rules: config.routing.rules,
    });
    if ('refuse' in plan) {
      this.statements.localReply('local', cls, plan.refuse, q);
      return;
    }
    const { group, forced, injected } = plan;
    if (this.pinned.lease || config.poolMode === 'session' || cls.pins) {
      if (cls.session?.type === 'set') this.statements.recordSettings(cls);
      return this.runOnPinned(p, q, cls, injected);
    }
    if (cls.session?.type === 'use') return this.statements.useDatabase(cls.session.database);
    if (cls.session?.type === 'set') return this.statements.setSettings(cls);
    let route: Route = forced ?? (cls.kind === 'read' ? 'reader' : 'writer');
    // Read-your-writes: after this client wrote, its reads go to the writer for a while.
    if (route === 'reader' && !forced && config.routing.readAfterWriteMs > 0 && Date.now() - this.lastWriteAt < config.routing.readAfterWriteMs) {
      route = 'writer';
    }
    const started = process.hrtime.bigint();
    const cachePlan = this.cachePlan(q, cls, route, forced != null, group, injected);
    const placing: Placing = { p, q, cls, route, group, injected, started, cachePlan };
    // A cached read is counted where it ends up (local for hits and followers).
    if (!cachePlan) this.deps.events.query(route, cls.kind, this.ctx.qi(q, cls));
    if (this.ctx.limiter) return this.admitThenPlace(placing);
    return this.place(placing, null);
  }

  /** Waits for the user's concurrency limit (or its refusal), then places the query. */
  private async admitThenPlace(placing: Placing): Promise<void> {
    const { q, cls, route, started, cachePlan } = placing;
    const a = await this.ctx.limiter!.admit();
    if (isLimitRefusal(a)) {
      if (cachePlan) this.deps.events.query(route, cls.kind, this.ctx.qi(q, cls));
      this.sink.sendError(replyError(a.chCode, a.message));
      this.deps.events.queryDone(route, seconds(started), { origin: 'proxy', code: a.chCode }, this.ctx.qi(q, cls));
      return;
    }
    return this.place(placing, once(a));
  }

  /** An admitted query: its bytes for the backend, then the cache's hold or an attempt on a backend. */
  private place({ p, q, cls, route, group, injected, started, cachePlan }: Placing, admitted: (() => void) | null): Promise<void> | void {
    const { config } = this.deps;
    let queryBytes: readonly Buffer[];
    try {
      queryBytes = this.queryBytes(p, q, injected);
    } catch (e) {
      admitted?.();
      if (cachePlan) this.deps.events.query(route, cls.kind, this.ctx.qi(q, cls));
      this.sink.sendError(e);
      this.deps.events.queryDone(route, seconds(started), { origin: 'proxy', code: toReplyError(e).chCode }, this.ctx.qi(q, cls));
      return;
    }
    this.attempt = {
      q, cls, route, group, started, queryBytes, admitted,
      tried: new Set(),
      retriesLeft: route === 'reader' ? config.routing.retries : 0,
      retriable: route === 'reader',
      replay: [],
      replayBytes: 0,
    };
    if (cachePlan) {
      // Answered once the client's data has ended (session-cache.ts).
      this.cache.hold(cachePlan.cfg, this.attempt, cachePlan.plan, this.ctx.revision, cachePlan.compression);
      return;
    }
    return this.runAttempt(this.attempt);
  }

  /** The cache plan of a read that may use the cache, or null (cache off, not cacheable: the bypass is counted). */
  private cachePlan(q: ClientQuery, cls: Classification, route: Route, forced: boolean, group: string, injected: Setting[]): ReadCachePlan | null {
    const cfg = this.cache.config;
    if (!cfg || cls.kind !== 'read' || cls.session !== undefined) return null;
    // A read sent to the writer by read-your-writes or a rule wants the writer's current data, not a cached copy.
    if (route !== 'reader' || forced) {
      cfg.cache.events.bypass(forced ? 'rule' : 'read_after_write');
      return null;
    }
    const settings = mergeSettings(this.ctx.settings, q.settings, injected);
    let compression: ClientCompression | null;
    try {
      // The session's SETs count: the backend would compress with what they set.
      compression = clientCompression({ ...q, settings });
    } catch {
      cfg.cache.events.bypass('compression');
      return null; // a method the proxy cannot write: the backend answers it
    }
    const d = this.cache.decide(cfg, {
      q,
      cls,
      userName: this.ctx.user?.name ?? this.ctx.clientIdentity.user,
      database: this.ctx.database,
      group,
      backendUser: this.ctx.identityFor('reader').user,
      revision: this.ctx.revision,
      settings,
    });
    return d.cache ? { cfg, plan: d.plan, compression } : null;
  }

  /** The query ended for this client (a cached or shared read): free its slot, count it, read the next packet. */
  queryEnded(at: Attempt, route: Route | 'local', outcome: QueryOutcome): void {
    if (this.attempt === at) this.attempt = null;
    at.admitted?.();
    this.deps.events.bytes(this.sink.bytesOut - this.bytesReported, 0);
    this.bytesReported = this.sink.bytesOut;
    this.deps.events.queryDone(route, seconds(at.started), outcome.error, this.ctx.qi(at.q, at.cls));
    if (!this.host.isClosed) void this.host.pump();
  }

  /**
   * The Query as it goes to the backend: the client's own bytes, or re-encoded when session SETs
   * or enforced settings must be merged in (throws if the settings cannot be encoded).
   */
  private queryBytes(p: FramedPacket, q: ClientQuery, injected: Setting[]): readonly Buffer[] {
    if (this.ctx.settings.size === 0 && injected.length === 0) return p.chunks;
    return [rewriteQuery(q, mergeSettings(this.ctx.settings, q.settings, injected), this.ctx.revision)];
  }

  /**
   * One try of a query on one backend; reads that fail before any byte reached the client try another reader.
   * Synchronous when the pool has an idle connection (see startQuery); a promise when it must wait for one.
   */
  runAttempt(at: Attempt): Promise<void> | void {
    const pick = this.deps.router.pick(at.route, at.group, at.tried);
    if ('chCode' in pick) return this.endAttempt(at, pick);
    const pool = this.ctx.poolFor(pick.target, pick.route, this.ctx.database);
    const conn = pool.tryCheckout();
    if (conn) return this.startOn(at, pick, pool, conn);
    return this.checkoutThenStart(at, pick, pool);
  }

  /** No idle connection: waits for one (a connect, a freed connection); a backend fault may move the read on. */
  private async checkoutThenStart(at: Attempt, pick: Picked, pool: Pool): Promise<void> {
    let conn: BackendConnection;
    try {
      conn = await pool.checkout();
    } catch (e) {
      const { router, health } = this.deps;
      if (isBackendFault(e)) health?.reportFailure(pick.target, (e as Error).message);
      at.tried.add(pick.target.name);
      if (at.retriable && isBackendFault(e)) {
        // Every reader tried: one more pick decides between the writer fallback and 279,
        // without spending a retry.
        const readersLeft = router.readers(at.group).some((r) => !at.tried.has(r.name));
        if (!readersLeft && !at.fallbackTried) {
          at.fallbackTried = true;
          return this.runAttempt(at);
        }
        if (at.retriesLeft > 0) {
          at.retriesLeft--;
          return this.runAttempt(at);
        }
      }
      return this.endAttempt(at, e);
    }
    this.startOn(at, pick, pool, conn);
  }

  /** The attempt has its backend connection: run it there (or give it back if nobody wants the answer any more). */
  private startOn(at: Attempt, pick: Picked, pool: Pool, conn: BackendConnection): void {
    if (this.host.isClosed && !(at.flight && (at.flight.subscribers > 0 || at.flight.background))) {
      pool.release(conn, true);
      at.admitted?.();
      at.flight?.sendError(new Error('client gone'));
      return;
    }
    const lease: Lease = { conn, pool, pinned: false, target: pick.target, group: at.group };
    this.deps.router.acquire(at.group, pick.target);
    at.tried.add(pick.target.name);
    this.execute(at, lease, pick.route);
  }

  private endAttempt(at: Attempt, err: unknown): void {
    if (at.flight) {
      // Every client of the flight gets the error; each ends through its own subscription.
      at.flight.sendError(err);
      return;
    }
    if (this.attempt === at) this.attempt = null;
    at.admitted?.();
    this.sink.sendError(err);
    this.deps.events.queryDone(at.route, seconds(at.started), { origin: 'proxy', code: toReplyError(err).chCode }, this.ctx.qi(at.q, at.cls));
  }

  private execute(at: Attempt, lease: Lease, route: Route): void {
    const { config, router, health } = this.deps;
    const { q, cls } = at;
    const flight = at.flight;
    let sink: RunSink = flight ?? this.sink;
    const cache = this.deps.cache?.cache;
    // Writes, and what the router could not classify (it may write); never SET/USE.
    if (cache && (cls.kind === 'write' || cls.kind === 'unknown')) {
      const tables = writtenTables(q.query, this.ctx.database);
      sink = new InvalidatingSink(sink, () => cache.invalidate(tables));
    }
    const run = new QueryRun(
      lease.conn,
      sink,
      {
        // Any INSERT but INSERT … SELECT: 18.16 asks for data blocks even when the text carries
        // inline values (clickhouse-client --multiquery sends the rest of the script after VALUES),
        // so the server's header block, not the text, opens the client's data phase.
        insertExpectsData: cls.statement === 'INSERT' && !cls.insert?.select,
        resultBuffering: lease.pinned || flight ? 'stream' : config.resultBuffering,
        bufferMaxBytes: config.bufferMaxBytes,
        drainTimeoutMs: config.drainTimeoutMs,
        maxPausedMs: config.maxPausedMs,
        retriable: !lease.pinned && at.retriable && at.retriesLeft > 0,
      },
      {
        onClientDataPhase: () => {
          this.clientDataOpen = true;
        },
        onClientStalled: () => {
          // A client that stops reading must not hold a backend connection: close it, cancel its query.
          this.deps.log('info', 'closing a client that stopped reading its result', { paused_ms: config.maxPausedMs });
          if (!flight) this.host.close();
        },
        clientDataOpen: () => this.clientDataOpen,
        onRetry: (err) => {
          // Nothing reached the client: try another reader with the same Query and client data.
          if (this.run === run) this.run = null;
          health?.reportFailure(lease.target, err.message);
          router.release(lease.group, lease.target);
          lease.pool.release(lease.conn, false);
          at.retriesLeft--;
          void Promise.resolve(this.runAttempt(at)).then(() => this.host.pump());
        },
        onDone: ({ reusable, error }) => {
          if (this.run === run) this.run = null;
          if (flight) {
            // The clients of the flight were ended by it (queryEnded); what is left is the backend's side.
            this.deps.events.bytes(0, run.bytesToBackend);
            router.release(lease.group, lease.target);
            if (error?.origin === 'proxy' && error.code === ProxyErrorCode.NETWORK_ERROR) health?.reportFailure(lease.target, 'connection lost mid-query');
            lease.pool.release(lease.conn, reusable);
            return;
          }
          this.deps.events.bytes(this.sink.bytesOut - this.bytesReported, run.bytesToBackend);
          this.bytesReported = this.sink.bytesOut;
          if (this.attempt === at) this.attempt = null;
          at.admitted?.();
          if (!lease.pinned) router.release(lease.group, lease.target);
          if (error?.origin === 'proxy' && error.code === ProxyErrorCode.NETWORK_ERROR) health?.reportFailure(lease.target, 'connection lost mid-query');
          if (route === 'writer' && cls.kind !== 'read') this.lastWriteAt = Date.now();
          this.deps.events.queryDone(route, seconds(at.started), error, this.ctx.qi(q, cls));
          if (!lease.pinned) lease.pool.release(lease.conn, reusable);
          else if (this.host.isClosed) this.pinned.release();
          // A backend that went silent was already reported to the client by the run (209): just end the session.
          else if (!reusable) this.pinned.lose(error?.origin === 'proxy' && error.code === ProxyErrorCode.SOCKET_TIMEOUT);
          if (!this.host.isClosed) void this.host.pump();
        },
      },
    );
    if (flight) flight.attach(run);
    else this.run = run;
    const timeoutMs = this.ctx.user?.queryTimeoutMs ?? 0;
    if (timeoutMs > 0) {
      run.setTimeout(timeoutMs, () =>
        exceptionPacket(replyError(ProxyErrorCode.TIMEOUT_EXCEEDED, `query exceeded query_timeout_ms (${timeoutMs} ms) of user ${this.ctx.user!.name}; it was cancelled`)),
      );
    }
    run.start(q.compression, at.queryBytes);
    // A retried read: the client's external tables and empty block go again.
    for (const chunks of at.replay) run.forward({ chunks } as FramedPacket);
  }

  /** A query of a pinned session: on its one writer connection, taken by the first query that pins. */
  private async runOnPinned(p: FramedPacket, q: ClientQuery, cls: Classification, injected: Setting[]): Promise<void> {
    const started = process.hrtime.bigint();
    // A pinned session may shadow tables with temporary ones: never cached.
    if (cls.kind === 'read') this.deps.cache?.cache.events.bypass('pinned');
    this.deps.events.query('writer', cls.kind, this.ctx.qi(q, cls));
    if (!this.pinned.lease) {
      const target = this.deps.router.writer;
      const pool = this.ctx.poolFor(target, 'writer', this.ctx.database);
      try {
        this.pinned.hold({ conn: await pool.checkout(), pool, pinned: true, target, group: DEFAULT_GROUP }, cls.pins ?? 'pool_mode: session');
      } catch (e) {
        this.sink.sendError(e);
        this.deps.events.queryDone('writer', seconds(started), { origin: 'proxy', code: toReplyError(e).chCode }, this.ctx.qi(q, cls));
        return;
      }
      if (this.host.isClosed) return this.pinned.release();
    }
    let queryBytes: readonly Buffer[];
    try {
      queryBytes = this.queryBytes(p, q, injected);
    } catch (e) {
      this.sink.sendError(e);
      return;
    }
    const at: Attempt = {
      q, cls, route: 'writer', group: DEFAULT_GROUP, started, queryBytes, admitted: null,
      tried: new Set(), retriesLeft: 0, retriable: false, replay: [], replayBytes: 0,
    };
    this.attempt = at;
    this.execute(at, this.pinned.lease!, 'writer'); // held: taken above, or by an earlier query
  }
}
