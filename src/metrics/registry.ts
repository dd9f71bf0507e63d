/**
 * Every Prometheus metric of Gatehouse, declared here and only here (names are snapshot-tested). One Registry per
 * Metrics instance, never prom-client's global default one, so tests and several proxies in one process stay apart.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Where a query ran: `local` means the proxy answered it itself (USE, SET, cache replay, its own errors). */
export type QueryRoute = 'reader' | 'writer' | 'local';
/** How the router classified a query. */
export type QueryKind = 'read' | 'write' | 'session' | 'unknown';
/** Who raised a query error: the backend's Exception packet, or the proxy. */
export type ErrorOrigin = 'backend' | 'proxy';
/** Bytes relayed towards the client or towards a backend. */
export type ByteDirection = 'to_client' | 'to_backend';
/** Outcome of opening a backend connection. */
export type ConnectResult = 'ok' | 'error';

/** One pool's state at scrape time; pools sharing backend and user are summed. */
export interface PoolStats {
  readonly backend: string;
  readonly user: string;
  readonly idle: number;
  readonly busy: number;
  readonly waiting: number;
}

/** Called at every scrape, so pools need not push their gauges. */
export type PoolStatsSource = () => Iterable<PoolStats>;

const PREFIX = 'gatehouse_';

/** Query latency buckets, 1 ms to 5 min. */
const DURATION_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The process's metrics; create one and pass it explicitly to whatever records. */
export class Metrics {
  readonly registry = new Registry();

  /** Open client connections. */
  readonly clientConnections: Gauge;
  /** Client connections accepted since start. */
  readonly clientConnectionsTotal: Counter;
  readonly queriesTotal: Counter<'route' | 'kind'>;
  /** `code` is the ClickHouse error number sent to the client. */
  readonly queryErrorsTotal: Counter<'origin' | 'code'>;
  readonly queryDurationSeconds: Histogram<'route'>;
  /** Filled from pool sources at scrape time (see addPoolSource), or set directly when no source is registered. */
  readonly poolConnections: Gauge<'backend' | 'user' | 'state'>;
  readonly poolWaiting: Gauge<'backend' | 'user'>;
  readonly poolWaitTimeoutsTotal: Counter<'backend'>;
  readonly poolConnectsTotal: Counter<'backend' | 'result'>;
  /** `reason` is chosen by the pool (protocol_error, drain_timeout, idle_timeout, health_check, ...). */
  readonly poolDiscardsTotal: Counter<'backend' | 'reason'>;
  /** Client sessions pinned to one backend connection (temporary tables, SET ROLE, ...). */
  readonly pinnedSessions: Gauge;
  readonly backendBanned: Gauge<'backend'>;
  readonly backendBansTotal: Counter<'backend'>;
  readonly bytesTotal: Counter<'direction'>;

  private readonly poolSources = new Set<PoolStatsSource>();

  constructor() {
    const registers = [this.registry];
    this.clientConnections = new Gauge({ name: `${PREFIX}client_connections`, help: 'Open client connections.', registers });
    this.clientConnectionsTotal = new Counter({
      name: `${PREFIX}client_connections_total`,
      help: 'Client connections accepted.',
      registers,
    });
    this.queriesTotal = new Counter({
      name: `${PREFIX}queries_total`,
      help: 'Queries by where they ran and how the router classified them.',
      labelNames: ['route', 'kind'] as const,
      registers,
    });
    this.queryErrorsTotal = new Counter({
      name: `${PREFIX}query_errors_total`,
      help: 'Queries that ended in an Exception, by origin and ClickHouse error code.',
      labelNames: ['origin', 'code'] as const,
      registers,
    });
    this.queryDurationSeconds = new Histogram({
      name: `${PREFIX}query_duration_seconds`,
      help: 'Time from a Query packet to its EndOfStream or Exception.',
      labelNames: ['route'] as const,
      buckets: DURATION_BUCKETS_SECONDS,
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
    });
  }

  /** Registers a pool's state for the pool gauges; returns the function that unregisters it. */
  addPoolSource(source: PoolStatsSource): () => void {
    this.poolSources.add(source);
    return () => {
      this.poolSources.delete(source);
    };
  }

  /** Counts one query (typed labels). */
  countQuery(route: QueryRoute, kind: QueryKind): void {
    this.queriesTotal.inc({ route, kind });
  }

  /** Records a finished query's duration. */
  observeQueryDuration(route: QueryRoute, seconds: number): void {
    this.queryDurationSeconds.observe({ route }, seconds);
  }

  /** Counts a query that ended in an Exception (`code`: ClickHouse error number). */
  countQueryError(origin: ErrorOrigin, code: number): void {
    this.queryErrorsTotal.inc({ origin, code: String(code) });
  }

  /** Adds relayed bytes. */
  countBytes(direction: ByteDirection, n: number): void {
    this.bytesTotal.inc({ direction }, n);
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
}

/** The Prometheus text exposition of `metrics`. */
export function renderMetrics(metrics: Metrics): Promise<string> {
  return metrics.render();
}
