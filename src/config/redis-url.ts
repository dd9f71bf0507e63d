/**
 * Redis URLs of the cache (`cache.redis.url`, or the variable `cache.redis.url_env` names, or a cluster's seeds with
 * their credentials): checking, masking and resolving. A URL may carry a password (`redis://:PASSWORD@host:6379/0`),
 * so no message here ever echoes one.
 */
import { ConfigError, type ConfigIssue } from './errors';
import { ENV_NAME } from './schema-fields';

const MASK = '***';

/** The accepted shape, as error messages show it. */
export const REDIS_URL_FORMAT = 'redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or rediss://… (TLS)';

// Query parameters some clients read credentials from (ioredis copies the query into its options).
const SECRET_PARAM = /pass|secret|token|auth/i;

function parse(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

/** Why `s` is not a usable Redis URL, or undefined when it is. Shows the value only with its password masked. */
export function redisUrlProblem(s: string): string | undefined {
  const u = parse(s);
  // An unparsable value cannot be masked reliably: it is not shown at all.
  if (u === undefined) return `expected ${REDIS_URL_FORMAT} (the value is not shown: it may hold a password)`;
  const ok = (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '' && /^(?:\/[0-9]*)?$/.test(u.pathname);
  return ok ? undefined : `expected ${REDIS_URL_FORMAT}, got ${redactRedisUrl(s)}`;
}

/**
 * `s` with its password masked: `redis://user:***@host:6379/0`. Scheme, user, host, port and database stay. A lone
 * user part (`redis://SECRET@host`) is masked too, since some clients and many people write the password there; so
 * are query parameters named like credentials. A value that does not parse as a URL becomes `***`.
 */
export function redactRedisUrl(s: string): string {
  const u = parse(s);
  if (u === undefined) return MASK;
  if (u.password !== '') u.password = MASK;
  else if (u.username !== '') u.username = MASK;
  for (const key of [...u.searchParams.keys()]) if (SECRET_PARAM.test(key)) u.searchParams.set(key, MASK);
  return u.toString();
}

/** The part of the validated config this file reads. */
export interface RedisEndpoint {
  readonly url?: string | undefined;
  readonly url_env?: string | undefined;
}

/** A Redis Cluster section as this file reads it: seeds, and the credentials and TLS of every node. */
export interface RedisClusterEndpoint {
  readonly nodes: readonly string[];
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly password_env?: string | undefined;
  readonly tls: boolean;
}

/**
 * The seed URLs of a Redis Cluster, each carrying the nodes' credentials and scheme
 * (`rediss://USER:PASSWORD@HOST:PORT` with TLS): the Redis client takes them from the first seed for every node.
 * Throws ConfigError when password_env names an unset variable (the message names the variable, never a value).
 */
export function redisClusterSeeds(c: RedisClusterEndpoint, env: NodeJS.ProcessEnv = process.env): string[] {
  let password = c.password;
  if (c.password_env !== undefined) {
    password = env[c.password_env];
    if (password === undefined || password === '') {
      throw new ConfigError([{ path: 'cache.redis.password_env', message: `environment variable ${c.password_env} is not set` }]);
    }
  }
  // The schema allows a user name only with a password (Redis authenticates a user with its password).
  const user = c.username === undefined ? '' : encodeURIComponent(c.username);
  const auth = password === undefined ? '' : `${user}:${encodeURIComponent(password)}@`;
  return c.nodes.map((n) => `${c.tls ? 'rediss' : 'redis'}://${auth}${n}`);
}

/**
 * The Redis URL to connect to: `url`, or the value of the variable `url_env` names; undefined when neither is set
 * (cluster mode: the seeds are `nodes`). Throws ConfigError when the variable is unset (the message names the
 * variable, never its value).
 */
export function resolveRedisUrl(redis: RedisEndpoint, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (redis.url !== undefined) return redis.url;
  if (redis.url_env === undefined) return undefined;
  const value = env[redis.url_env];
  if (value === undefined) {
    throw new ConfigError([{ path: 'cache.redis.url_env', message: `environment variable ${redis.url_env} is not set` }]);
  }
  return value;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checked when loading, like users' password_env: the variable `cache.redis.url_env` names must be set and hold a
 * Redis URL, so a typo fails at start-up rather than at the first cache miss.
 */
export function redisUrlEnvIssues(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const redis = isRecord(raw.cache) ? raw.cache.redis : undefined;
  if (!isRecord(redis)) return [];
  const issues: ConfigIssue[] = [];
  if (typeof redis.url_env === 'string' && ENV_NAME.test(redis.url_env)) {
    const name = redis.url_env;
    const value = env[name];
    const path = 'cache.redis.url_env';
    const problem = value === undefined ? undefined : redisUrlProblem(value);
    if (value === undefined) issues.push({ path, message: `environment variable ${name} is not set` });
    else if (problem !== undefined) issues.push({ path, message: `environment variable ${name}: ${problem}` });
  }
  // The cluster's password variable, like users' password_env: a typo fails at start-up, not at the first miss.
  if (typeof redis.password_env === 'string' && ENV_NAME.test(redis.password_env)) {
    const value = env[redis.password_env];
    if (value === undefined || value === '') {
      issues.push({ path: 'cache.redis.password_env', message: `environment variable ${redis.password_env} is not set` });
    }
  }
  return issues;
}
