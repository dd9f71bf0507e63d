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

/**
 * ClickHouse config for sandbox nodes whose system.query_log the tests read (extraConfigXml): flushed every 300 ms, so
 * counts of executions are readable soon after a query (after `SYSTEM FLUSH LOGS` at the latest).
 */
export const QUERY_LOG_XML = `
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>300</flush_interval_milliseconds>
  </query_log>`;
