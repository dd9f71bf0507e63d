/**
 * Every Prometheus metric of Gatehouse, declared here and only here (names are snapshot-tested). One Registry per
 * Metrics instance, never prom-client's global default one, so tests and several proxies in one process stay apart.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type {
  ByteDirection,
  CacheStats,
  CacheStatsSource,
  ConnectResult,
  ErrorOrigin,
  FinishedQuery,
  MetricsOptions,
  PoolStats,
  PoolStatsSource,
  QueryKind,
  QueryOutcome,
  SingleFlightScope,
} from './types';
import { UserLabels } from './user-labels';

const PREFIX = 'gatehouse_';

/** Query latency buckets, 0.1 ms (a cache hit, a local SET) to 10 min (a long report). */
export const QUERY_DURATION_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
] as const;

/** Checkout wait buckets: 0.1 ms (an idle connection) to 1 min (beyond any sensible pool.wait_timeout_ms). */
export const CHECKOUT_WAIT_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
] as const;

const KINDS: ReadonlySet<string> = new Set<QueryKind>(['read', 'write', 'session', 'unknown']);

/**
 * prom-client's default metrics include gauges named `*_total` (active handles, requests, resources), which
 * `promtool check metrics` rejects (only counters end in _total); the same values are there per type, unsuffixed.
 */
const DEFAULT_METRICS_DROPPED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The process's metrics; create one and pass it explicitly to whatever records. */
export class Metrics {
  readonly registry = new Registry();

  /** Open client connections. */
  readonly clientConnections: Gauge;
  /** Client connections accepted since start. */
  readonly clientConnectionsTotal: Counter;
  /** Counted when a query ends (recordQuery). */
  readonly queriesTotal: Counter<'route' | 'kind' | 'user' | 'outcome'>;
  /** `code` is the ClickHouse error number sent to the client. */
  readonly queryErrorsTotal: Counter<'origin' | 'code'>;
  readonly queryDurationSeconds: Histogram<'route' | 'kind'>;
  /** Filled from pool sources at scrape time (see addPoolSource), or set directly when no source is registered. */
  readonly poolConnections: Gauge<'backend' | 'user' | 'state'>;
  readonly poolWaiting: Gauge<'backend' | 'user'>;
  readonly poolMaxConnections: Gauge<'backend' | 'user'>;
  /** Time from checkout() to a connection lent (successful checkouts only; timeouts are poolWaitTimeoutsTotal). */
  readonly poolCheckoutWaitSeconds: Histogram<'backend'>;
  readonly poolWaitTimeoutsTotal: Counter<'backend'>;
  readonly poolConnectsTotal: Counter<'backend' | 'result'>;
  /** `reason`: a short fixed list that serve.ts maps the pool's own text to (not_reusable, broken, idle_timeout, ...). */
  readonly poolDiscardsTotal: Counter<'backend' | 'reason'>;
  /** Client sessions pinned to one backend connection (temporary tables, SET ROLE, ...). */
  readonly pinnedSessions: Gauge;
  readonly backendBanned: Gauge<'backend'>;
  readonly backendBansTotal: Counter<'backend'>;
  readonly bytesTotal: Counter<'direction'>;
  readonly cacheHitsTotal: Counter;
  readonly cacheMissesTotal: Counter;
  readonly cacheStoresTotal: Counter;
  /** `reason` is chosen by the cache (the frontend's BypassReason: not_read, hint, rule, store_down, too_large, ...). */
  readonly cacheBypassTotal: Counter<'reason'>;
  /** Incremented by the number of entries an invalidation removed. */
  readonly cacheInvalidationsTotal: Counter;
  /** Read from cache sources at scrape time (see addCacheSource). */
  readonly cacheEvictionsTotal: Counter;
  readonly cacheEntries: Gauge;
  readonly cacheBytes: Gauge;
  readonly cacheSingleflightWaitsTotal: Counter<'scope'>;
  readonly cacheStaleServedTotal: Counter;
  readonly cacheRefreshesTotal: Counter;
  readonly cacheRunsKeptTotal: Counter;
  /** Set by the cache (setCacheStoreUp); absent until then. */
  readonly cacheStoreUp: Gauge;

  private readonly poolSources = new Set<PoolStatsSource>();
  private readonly cacheSources = new Set<CacheStatsSource>();
  private readonly users: UserLabels;
  /**
   * queries_total increments not yet given to prom-client, by route, kind, user label, then outcome: plain numbers
   * on the query's path, handed over when the counter is collected (prom-client hashes the label object on every
   * inc(), a few microseconds and a few hundred bytes per query).
   */
  private readonly pendingQueries = new Map<string, Map<string, Map<string, { ok: number; error: number }>>>();
  /** bytes_total increments not yet given to prom-client. */
  private readonly pendingBytes = { to_client: 0, to_backend: 0 };
  private readonly queryHistograms = new Map<string, { observe(v: number): void }>();

  constructor(opts: MetricsOptions = {}) {
    this.users = new UserLabels(opts.maxUserLabels ?? 100);
    const registers = [this.registry];
    this.clientConnections = new Gauge({ name: `${PREFIX}client_connections`, help: 'Open client connections.', registers });
    this.clientConnectionsTotal = new Counter({
      name: `${PREFIX}client_connections_total`,
      help: 'Client connections accepted.',
      registers,
    });
    this.queriesTotal = new Counter({
      name: `${PREFIX}queries_total`,
      help: 'Queries ended, by where they ran, how the router classified them, user, and outcome (ok or error).',
      labelNames: ['route', 'kind', 'user', 'outcome'] as const,
      registers,
      collect: () => this.flushQueryCounts(),
    });
    this.queryErrorsTotal = new Counter({
      name: `${PREFIX}query_errors_total`,
      help: 'Queries that ended in an Exception, by origin and ClickHouse error code.',
      labelNames: ['origin', 'code'] as const,
      registers,
    });
    this.queryDurationSeconds = new Histogram({
      name: `${PREFIX}query_duration_seconds`,
      help: 'Time from a Query packet to its EndOfStream or Exception, by route and kind.',
      labelNames: ['route', 'kind'] as const,
      buckets: [...QUERY_DURATION_BUCKETS_SECONDS],
      registers,
    });
    this.poolConnections = new Gauge({
      name: `${PREFIX}pool_connections`,
      help: 'Backend connections in the pools, by state.',
      labelNames: ['backend', 'user', 'state'] as const,
      registers,
      collect: () => this.collectPools((s) => {
        this.poolConnections.inc({ backend: s.backend, user: s.user, state: 'idle' }, s.idle);
        this.poolConnections.inc({ backend: s.backend, user: s.user, state: 'busy' }, s.busy);
        this.poolConnections.inc({ backend: s.backend, user: s.user, state: 'connecting' }, s.connecting);
      }, this.poolConnections),
    });
    this.poolWaiting = new Gauge({
      name: `${PREFIX}pool_waiting`,
      help: 'Checkouts waiting for a backend connection.',
      labelNames: ['backend', 'user'] as const,
      registers,
      collect: () => this.collectPools((s) => {
        this.poolWaiting.inc({ backend: s.backend, user: s.user }, s.waiting);
      }, this.poolWaiting),
    });
    this.poolMaxConnections = new Gauge({
      name: `${PREFIX}pool_max_connections`,
      help: 'Most backend connections the pools may hold (pool.max_size, or as adjusted to the backend\'s cores).',
      labelNames: ['backend', 'user'] as const,
      registers,
      collect: () => this.collectPools((s) => {
        this.poolMaxConnections.inc({ backend: s.backend, user: s.user }, s.max);
      }, this.poolMaxConnections),
    });
    this.poolCheckoutWaitSeconds = new Histogram({
      name: `${PREFIX}pool_checkout_wait_seconds`,
      help: 'Time a query waited for a backend connection (an idle one, or a new connect or a ping), by backend.',
      labelNames: ['backend'] as const,
      buckets: [...CHECKOUT_WAIT_BUCKETS_SECONDS],
      registers,
    });
    this.poolWaitTimeoutsTotal = new Counter({
      name: `${PREFIX}pool_wait_timeouts_total`,
      help: 'Checkouts that gave up after pool.wait_timeout_ms.',
      labelNames: ['backend'] as const,
      registers,
    });
    this.poolConnectsTotal = new Counter({
      name: `${PREFIX}pool_connects_total`,
      help: 'Backend connection attempts, by result.',
      labelNames: ['backend', 'result'] as const,
      registers,
    });
    this.poolDiscardsTotal = new Counter({
      name: `${PREFIX}pool_discards_total`,
      help: 'Backend connections closed instead of being returned to the pool, by reason.',
      labelNames: ['backend', 'reason'] as const,
      registers,
    });
    this.pinnedSessions = new Gauge({
      name: `${PREFIX}pinned_sessions`,
      help: 'Client sessions pinned to one backend connection.',
      registers,
    });
    this.backendBanned = new Gauge({
      name: `${PREFIX}backend_banned`,
      help: 'Whether a backend is banned by the health checks (1) or in rotation (0).',
      labelNames: ['backend'] as const,
      registers,
      // Several worker processes (AggregatorRegistry) each check health: banned if any of them says so, never 2.
      aggregator: 'max',
    });
    this.backendBansTotal = new Counter({
      name: `${PREFIX}backend_bans_total`,
      help: 'Times a backend was banned (renewals of a ban while it stays down not counted).',
      labelNames: ['backend'] as const,
      registers,
    });
    this.bytesTotal = new Counter({
      name: `${PREFIX}bytes_total`,
      help: 'Bytes relayed, by direction.',
      labelNames: ['direction'] as const,
      registers,
      collect: () => this.flushByteCounts(),
    });
    this.cacheHitsTotal = new Counter({ name: `${PREFIX}cache_hits_total`, help: 'Queries answered from the result cache.', registers });
    this.cacheMissesTotal = new Counter({
      name: `${PREFIX}cache_misses_total`,
      help: 'Cacheable queries not found in the result cache (run on a backend).',
      registers,
    });
    this.cacheStoresTotal = new Counter({
      name: `${PREFIX}cache_stores_total`,
      help: 'Results written to the result cache.',
      registers,
    });
    this.cacheBypassTotal = new Counter({
      name: `${PREFIX}cache_bypass_total`,
      help:
        'Queries that did not use the result cache, by reason (not_read, hint, rule, nondeterministic, system_tables, ' +
        'unknown_tables, external_tables, store_down, store_timeout, store_full, store_error, too_large, failed, ...).',
      labelNames: ['reason'] as const,
      registers,
    });
    this.cacheInvalidationsTotal = new Counter({
      name: `${PREFIX}cache_invalidations_total`,
      help: 'Cache entries removed because a write touched a table they read.',
      registers,
    });
    this.cacheEvictionsTotal = new Counter({
      name: `${PREFIX}cache_evictions_total`,
      help: 'Cache entries evicted to stay under cache.max_bytes (read from the store at scrape time).',
      registers,
      collect: () => {
        // With no store registered, there is nothing to read: keep the last value.
        if (this.cacheSources.size === 0) return;
        const stats = this.readCacheSources();
        this.cacheEvictionsTotal.reset();
        this.cacheEvictionsTotal.inc(stats.reduce((n, s) => n + Math.max(0, s.evictions), 0));
      },
    });
    this.cacheEntries = new Gauge({
      name: `${PREFIX}cache_entries`,
      help: 'Entries in the cache store; absent when the store cannot tell (Redis) or the cache is off.',
      registers,
      collect: () => this.collectCacheGauge(this.cacheEntries, (s) => s.entries),
    });
    this.cacheBytes = new Gauge({
      name: `${PREFIX}cache_bytes`,
      help: 'Bytes of the entries in the cache store; absent when the store cannot tell (Redis) or the cache is off.',
      registers,
      collect: () => this.collectCacheGauge(this.cacheBytes, (s) => s.bytes),
    });
    this.cacheSingleflightWaitsTotal = new Counter({
      name: `${PREFIX}cache_singleflight_waits_total`,
      help: 'Cache misses that waited for an identical query already running, by scope (process: in this proxy; cluster: on another instance).',
      labelNames: ['scope'] as const,
      registers,
    });
    this.cacheStaleServedTotal = new Counter({
      name: `${PREFIX}cache_stale_served_total`,
      help: 'Cache hits served older than cache.soft_ttl_seconds (stale-while-revalidate).',
      registers,
    });
    this.cacheRefreshesTotal = new Counter({
      name: `${PREFIX}cache_refreshes_total`,
      help: 'Background refreshes of stale cache entries started.',
      registers,
    });
    this.cacheRunsKeptTotal = new Counter({
      name: `${PREFIX}cache_runs_kept_total`,
      help: "Shared executions that went on after this instance's last client of them left, because clients of other instances were reading their feed.",
      registers,
    });
    this.cacheStoreUp = new Gauge({
      name: `${PREFIX}cache_store_up`,
      help: 'Whether the cache store answers (1) or not (0); absent while the cache is off.',
      registers,
      // Across worker processes: down as soon as one of them cannot reach it.
      aggregator: 'min',
    });
    // A 0 before the cache starts (or when it is off) would read as "store down" and fire alerts.
    this.cacheStoreUp.remove({});
    if (opts.processMetrics ?? true) {
      // gatehouse_process_* and gatehouse_nodejs_*, with prom-client's own names and per-worker aggregators.
      collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
      for (const name of DEFAULT_METRICS_DROPPED) this.registry.removeSingleMetric(PREFIX + name);
    }
  }

  /** Proxy users of the config: each keeps its own `user` label whatever maxUserLabels says (call again on reload). */
  allowUsers(names: Iterable<string>): void {
    this.users.allow(names);
  }

  /** Registers a pool's state for the pool gauges; returns the function that unregisters it. */
  addPoolSource(source: PoolStatsSource): () => void {
    this.poolSources.add(source);
    return () => {
      this.poolSources.delete(source);
    };
  }

  /**
   * Registers the cache store's state for the eviction counter and the entries/bytes gauges; returns the function
   * that unregisters it. With several sources, values are summed; one unknown (-1) entries or bytes leaves that gauge
   * out.
   */
  addCacheSource(source: CacheStatsSource): () => void {
    this.cacheSources.add(source);
    return () => {
      this.cacheSources.delete(source);
    };
  }

  /** Counts a query that did not use the cache; `reason` is the cache's own (its list lives with the cache policy). */
  countCacheBypass(reason: string): void {
    this.cacheBypassTotal.inc({ reason });
  }

  /** Counts a cache miss that waited for an identical query in flight. */
  countSingleflightWait(scope: SingleFlightScope): void {
    this.cacheSingleflightWaitsTotal.inc({ scope });
  }

  /** Records whether the cache store answers. */
  setCacheStoreUp(up: boolean): void {
    this.cacheStoreUp.set(up ? 1 : 0);
  }

  /** Records a query that ended: counted by route, kind, user and outcome, its duration, and its error code. */
  recordQuery(q: FinishedQuery): void {
    const kind = KINDS.has(q.kind) ? q.kind : 'unknown';
    const outcome: QueryOutcome = q.error ? 'error' : 'ok';
    const user = this.users.label(q.user);
    let byKind = this.pendingQueries.get(q.route);
    if (byKind === undefined) this.pendingQueries.set(q.route, (byKind = new Map()));
    let byUser = byKind.get(kind);
    if (byUser === undefined) byKind.set(kind, (byUser = new Map()));
    let cell = byUser.get(user);
    if (cell === undefined) byUser.set(user, (cell = { ok: 0, error: 0 }));
    cell[outcome]++;
    // The histogram's children are looked up once per label set. (It is never reset, so a child stays valid.)
    const durationKey = `${q.route}\u0000${kind}`;
    let histogram = this.queryHistograms.get(durationKey);
    if (!histogram) {
      histogram = this.queryDurationSeconds.labels({ route: q.route, kind });
      this.queryHistograms.set(durationKey, histogram);
    }
    histogram.observe(nonNegative(q.seconds));
    if (q.error) this.countQueryError(q.error.origin, q.error.code);
  }

  /** Records how long a checkout waited for a connection to `backend`. */
  observeCheckoutWait(backend: string, seconds: number): void {
    this.poolCheckoutWaitSeconds.observe({ backend }, nonNegative(seconds));
  }

  /** Counts a query that ended in an Exception (`code`: ClickHouse error number). */
  countQueryError(origin: ErrorOrigin, code: number): void {
    this.queryErrorsTotal.inc({ origin, code: String(code) });
  }

  /** Adds relayed bytes. */
  countBytes(direction: ByteDirection, n: number): void {
    this.pendingBytes[direction] += n;
  }

  /** Hands the pending queries_total increments to prom-client (its collect(), at scrape time). */
  private flushQueryCounts(): void {
    for (const [route, byKind] of this.pendingQueries) {
      for (const [kind, byUser] of byKind) {
        for (const [user, cell] of byUser) {
          if (cell.ok > 0) this.queriesTotal.inc({ route, kind, user, outcome: 'ok' }, cell.ok);
          if (cell.error > 0) this.queriesTotal.inc({ route, kind, user, outcome: 'error' }, cell.error);
          cell.ok = 0;
          cell.error = 0;
        }
      }
    }
  }

  /** Hands the pending bytes_total increments to prom-client. */
  private flushByteCounts(): void {
    for (const direction of ['to_client', 'to_backend'] as const) {
      const n = this.pendingBytes[direction];
      if (n > 0) this.bytesTotal.inc({ direction }, n);
      this.pendingBytes[direction] = 0;
    }
  }

  /** Counts a backend connection attempt. */
  countConnect(backend: string, result: ConnectResult): void {
    this.poolConnectsTotal.inc({ backend, result });
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Content-Type of render()'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  private collectPools(apply: (s: PoolStats) => void, gauge: Gauge<string>): void {
    // With no source registered, leave values that were set directly alone.
    if (this.poolSources.size === 0) return;
    gauge.reset();
    for (const source of this.poolSources) for (const s of source()) apply(s);
  }

  private readCacheSources(): CacheStats[] {
    return [...this.cacheSources].map((source) => source());
  }

  private collectCacheGauge(gauge: Gauge, pick: (s: CacheStats) => number): void {
    const values = this.readCacheSources().map(pick);
    // Absent rather than 0: an empty cache and an unknown size must not look alike on a dashboard.
    if (values.length === 0 || values.some((v) => v < 0)) gauge.remove({});
    else gauge.set(values.reduce((a, b) => a + b, 0));
  }
}

/** A histogram throws on NaN and lets a negative value (a clock step) pull its _sum down: both become 0. */
function nonNegative(seconds: number): number {
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
}

/** The Prometheus text exposition of `metrics`. */
export function renderMetrics(metrics: Metrics): Promise<string> {
  return metrics.render();
}
