/** Public surface of metrics: the registry of every metric, readiness, and the admin HTTP server. */
export { Metrics, renderMetrics, QUERY_DURATION_BUCKETS_SECONDS, CHECKOUT_WAIT_BUCKETS_SECONDS } from './registry';
export type {
  QueryRoute,
  QueryKind,
  QueryOutcome,
  ErrorOrigin,
  ByteDirection,
  ConnectResult,
  PoolStats,
  PoolStatsSource,
  CacheStats,
  CacheStatsSource,
  SingleFlightScope,
  FinishedQuery,
  MetricsOptions,
} from './types';
export { OTHER_USER_LABEL } from './user-labels';
export { backendReadiness, type Readiness, type BackendHealth } from './readiness';
export { startAdminServer } from './admin-server';
export type { AdminServer, AdminServerOptions, ReloadResult } from './admin-server';
