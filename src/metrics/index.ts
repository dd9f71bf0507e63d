/** Public surface of metrics: the registry of every metric and the admin HTTP server. */
export { Metrics, renderMetrics } from './registry';
export type {
  QueryRoute,
  QueryKind,
  ErrorOrigin,
  ByteDirection,
  ConnectResult,
  PoolStats,
  PoolStatsSource,
  CacheStats,
  CacheStatsSource,
  SingleFlightScope,
} from './registry';
export { startAdminServer } from './admin-server';
export type { AdminServer, AdminServerOptions } from './admin-server';
