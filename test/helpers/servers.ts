/**
 * Throw-away servers for integration tests. The logic lives in src/sandbox (shared with `gatehouse sandbox` and
 * `npm run demo`); this file is the tests' entry point to it.
 */
export {
  freePort,
  canConnect,
  startClickHouse,
  startSandboxCluster,
  startRedis,
  redisPing,
  httpQuery,
  trackedProcesses,
  SANDBOX_USERS,
  NODE_MARKER_TABLE,
  type ClickHouseServer,
  type StartClickHouseOptions,
  type SandboxCluster,
  type SandboxClusterOptions,
  type RedisServer,
  type Credentials,
  type ClickHouseLogLevel,
  type ClickHouseUser,
} from '../../src/sandbox';
