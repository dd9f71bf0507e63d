/** Backend connections and pools: the client side of the native protocol. Other folders import only this file. */
export {
  ProxyError,
  BackendUnavailableError,
  PoolTimeoutError,
  BackendHandshakeError,
  BackendProtocolError,
  BackendQueryError,
  BackendTimeoutError,
  PoolChCode,
} from './errors';
export {
  BackendConnection,
  backendLabel,
  GATEHOUSE_VERSION,
  type BackendTarget,
  type BackendIdentity,
  type ServerInfo,
  type BackendConnectOptions,
  type BackendTlsOptions,
} from './backend-connection';
export { Pool, poolKeyString, type PoolKey, type PoolOptions, type PoolStats, type PoolEvents } from './pool';
export {
  PoolManager,
  maxSizeForCores,
  parseMaxThreads,
  FALLBACK_CORES,
  type PoolManagerOptions,
} from './pool-manager';
export { tlsFailure, secureContextFor } from './backend-tls';
export { runQuery, encodeSimpleQuery, decodeFramedBlock, type QueryResult } from './backend-query';
export {
  HealthMonitor,
  DEFAULT_REPLICA_DELAY_QUERY,
  type HealthOptions,
  type BackendStatus,
  type HealthEvents,
  type UnbanCause,
  type ReplicaHealth,
  type MonitoredBackend,
} from './health';
export { Balancer, type WeightedTarget } from './balancer';
