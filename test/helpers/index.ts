/** Integration-test helpers: real ClickHouse/Redis servers, clickhouse-client and Debian's python3 driver. */
export * from './servers';
export { runClient, query, errorCodeOf, ClickHouseClientError, CLICKHOUSE_CLIENT_BIN } from './clickhouse-client';
export { runPython, DEBIAN_PYTHON } from './python';
export { runProcess, type RunResult, type RunOptions } from './process';
