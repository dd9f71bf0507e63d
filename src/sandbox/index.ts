/** Throw-away ClickHouse and Redis servers for `gatehouse sandbox`, `npm run demo` and the integration tests. */
export { freePort, canConnect } from './ports';
export { spawnTracked, trackedProcesses, TrackedProcess, PID_DIR, type ExitInfo, type SpawnTrackedOptions } from './process-registry';
export {
  renderConfigXml,
  renderUsersXml,
  sha256Hex,
  type ClickHouseLogLevel,
  type ClickHouseUser,
  type ClickHouseConfigInput,
} from './clickhouse-config';
export { httpQuery, httpPing, ClickHouseHttpError, type Credentials } from './http-query';
export {
  startClickHouse,
  CLICKHOUSE_SERVER_BIN,
  type ClickHouseServer,
  type StartClickHouseOptions,
} from './clickhouse';
export { startRedis, redisPing, REDIS_SERVER_BIN, type RedisServer, type StartRedisOptions } from './redis';
export {
  startSandboxCluster,
  writeNodeMarker,
  SANDBOX_USERS,
  NODE_MARKER_TABLE,
  type SandboxCluster,
  type SandboxClusterOptions,
} from './cluster';
export { describeCluster, describeClusterJson, type SandboxDescription } from './describe';
