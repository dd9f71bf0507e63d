/** The types Metrics records and reads: label values, pool and cache state, finished queries. */

/** Where a query ran: `local` means the proxy answered it itself (USE, SET, cache replay, its own errors). */
export type QueryRoute = 'reader' | 'writer' | 'local';
/** How the router classified a query. */
export type QueryKind = 'read' | 'write' | 'session' | 'unknown';
/** How a query ended: `error` when the client got an Exception (from the backend or the proxy). */
export type QueryOutcome = 'ok' | 'error';
/** Who raised a query error: the backend's Exception packet, or the proxy. */
export type ErrorOrigin = 'backend' | 'proxy';
/** Bytes relayed towards the client or towards a backend. */
export type ByteDirection = 'to_client' | 'to_backend';
/** Outcome of opening a backend connection. */
export type ConnectResult = 'ok' | 'error';

/** One pool's state at scrape time; pools sharing backend and user (other databases) are summed, max included. */
export interface PoolStats {
  readonly backend: string;
  readonly user: string;
  readonly idle: number;
  readonly busy: number;
  /** Connections being opened (they count towards max). */
  readonly connecting: number;
  readonly waiting: number;
  /** The pool's current maxSize. */
  readonly max: number;
}

/** A query that ended, as the session reports it (SessionEvents.queryDone). */
export interface FinishedQuery {
  readonly route: QueryRoute;
  /** The router's kind; anything else is counted as `unknown` (label values stay a known set). */
  readonly kind: string;
  /** Proxy user, or the client's user in pass-through mode (capped, see MetricsOptions.maxUserLabels). */
  readonly user: string;
  readonly seconds: number;
  /** Set when the client got an Exception. */
  readonly error?: { readonly origin: ErrorOrigin; readonly code: number };
}

/** Options of a Metrics instance. */
export interface MetricsOptions {
  /**
   * Distinct `user` label values for users not named by allowUsers() (pass-through mode); later names are counted
   * as `other`. Default 100.
   */
  readonly maxUserLabels?: number;
  /** Node.js process metrics (CPU, memory, file descriptors, event loop, GC) on this registry. Default true. */
  readonly processMetrics?: boolean;
}

/** Called at every scrape, so pools need not push their gauges. */
export type PoolStatsSource = () => Iterable<PoolStats>;

/** Where a query waited for an identical one: in this process, or on another instance (the Redis lock). */
export type SingleFlightScope = 'process' | 'cluster';

/** The cache store's state at scrape time. */
export interface CacheStats {
  /** Current entries; -1 when the store cannot tell cheaply (Redis). */
  readonly entries: number;
  /** Current bytes of all entries; -1 when the store cannot tell cheaply. */
  readonly bytes: number;
  /** Entries evicted to stay under the byte budget, since the store was created. */
  readonly evictions: number;
}

/** Called at every scrape, so the store need not push its gauges. */
export type CacheStatsSource = () => CacheStats;
