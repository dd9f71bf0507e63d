/** Public surface of the configuration: schema and types, loading, redaction. */
export { configSchema, LOG_LEVELS } from './schema';
export type { GatehouseConfig, GatehouseConfigInput, ProxyUser, BackendUser, LogLevel } from './schema';
export { parseHostPort, tryParseHostPort, formatHostPort } from './host-port';
export type { HostPort } from './host-port';
export { loadConfig } from './load';
export type { LoadConfigOptions } from './load';
export type { FlagValues } from './flags';
export { ConfigError, formatIssues } from './errors';
export type { ConfigIssue } from './errors';
export { redactConfig, describeConfig } from './redact';
export { limitsFromConfig, LIMIT_KEYS } from './limits';
export type { LimitKey } from './limits';
