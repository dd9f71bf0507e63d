/** Public surface of the configuration: schema and types, loading, redaction, helpers over the validated config. */
export { configSchema, LOG_LEVELS } from './schema';
export type {
  GatehouseConfig,
  GatehouseConfigInput,
  ProxyUser,
  BackendUser,
  LogLevel,
  HealthConfig,
  RoutingConfig,
  RoutingRule,
  RuleKind,
  GroupConfig,
  CacheConfig,
  CacheRuleConfig,
  CacheStoreKind,
} from './schema';
export { CACHE_STORES } from './schema-cache';
export { redactRedisUrl, redisClusterSeeds, resolveRedisUrl } from './redis-url';
export { RULE_KINDS, RESERVED_GROUP_NAMES } from './schema-routing';
export { PASSWORD_KEYS } from './schema-users';
export { settingValueText } from './schema-fields';
export type { SettingValue } from './schema-fields';
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
export { resolveUserPassword, PLAIN_PASSWORD_IN_FILE } from './passwords';
export type { UserPassword } from './passwords';
export { parseCidr } from './cidr';
export type { Cidr } from './cidr';
export { backendGroups, DEFAULT_GROUP, writerName, readerName } from './groups';
export type { BackendSpec, BackendGroup } from './groups';
export type { BackendTlsConfig, ClientTlsConfig, HttpConfig, LifecycleConfig, LoginLimitConfig } from './schema-ops';
export { checkConfig, invalidConfigText, INVALID_CONFIG_EXIT_CODE } from './check';
export type { ConfigCheck } from './check';
