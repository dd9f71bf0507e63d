/** Command-line flags of `gatehouse serve`, mapped onto the raw (not yet validated) config object. */
import type { ConfigIssue } from './errors';

/** Flag values as commander hands them over; a repeated flag arrives as a list and replaces the file's list. */
export interface FlagValues {
  /** --listen HOST:PORT */
  listen?: string;
  /** --writer HOST:PORT */
  writer?: string;
  /** --reader HOST:PORT, repeatable */
  reader?: string[];
  /** --user NAME:PASSWORD, repeatable */
  user?: string[];
  /** --read-user NAME[:PASSWORD] */
  readUser?: string;
  /** --write-user NAME[:PASSWORD] */
  writeUser?: string;
  /** --admin HOST:PORT */
  admin?: string;
  /** --config FILE */
  config?: string;
  /** --redis URL: cache in Redis (sets cache.redis.url, cache.store redis, cache.enabled) */
  redis?: string;
  /** --cache-ttl SECONDS: sets cache.ttl_seconds and cache.enabled */
  cacheTtl?: string;
  /** --workers N|auto: sets lifecycle.workers */
  workers?: string;
  /** --http HOST:PORT: sets http.listen */
  http?: string;
}

/**
 * Writes the given flags over `raw` (a parsed config file, or {}); returns issues for flags that do not parse, at the
 * config path they set (`users.1: --user expects NAME:PASSWORD, ...`).
 */
export function applyFlags(raw: Record<string, unknown>, flags: FlagValues): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (flags.listen !== undefined) raw.listen = flags.listen;
  if (flags.writer !== undefined) raw.writer = flags.writer;
  if (flags.admin !== undefined) raw.admin = flags.admin;
  if (flags.reader !== undefined) raw.readers = [...flags.reader];
  if (flags.http !== undefined) {
    const http = (typeof raw.http === 'object' && raw.http !== null ? raw.http : {}) as Record<string, unknown>;
    raw.http = { ...http, listen: flags.http };
  }
  if (flags.workers !== undefined) {
    const w = flags.workers.trim();
    const lifecycle = (typeof raw.lifecycle === 'object' && raw.lifecycle !== null ? raw.lifecycle : {}) as Record<string, unknown>;
    raw.lifecycle = { ...lifecycle, workers: w === 'auto' ? 'auto' : /^\d+$/.test(w) ? Number(w) : w };
  }
  if (flags.user !== undefined) {
    raw.users = flags.user.map((spec, i) => {
      const colon = spec.indexOf(':');
      // Without a colon the value is only a name, so echoing it leaks no password.
      const problem = colon < 0 ? `got ${JSON.stringify(spec)}` : colon === 0 ? 'the name is empty' : undefined;
      if (problem) issues.push({ path: `users.${i}`, message: `--user expects NAME:PASSWORD, ${problem}` });
      return colon < 0 ? { name: spec, password: '' } : { name: spec.slice(0, colon), password: spec.slice(colon + 1) };
    });
  }
  for (const [flag, key, value] of [
    ['--read-user', 'read_user', flags.readUser],
    ['--write-user', 'write_user', flags.writeUser],
  ] as const) {
    if (value === undefined) continue;
    const colon = value.indexOf(':');
    const name = colon < 0 ? value : value.slice(0, colon);
    if (name === '') issues.push({ path: key, message: `${flag} expects NAME[:PASSWORD], the name is empty` });
    raw[key] = colon < 0 ? { name } : { name, password: value.slice(colon + 1) };
  }
  issues.push(...applyCacheFlags(raw, flags));
  return issues;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * --redis and --cache-ttl both turn the cache on: asking for a TTL or a Redis server means wanting a cache. They write
 * into the file's `cache:` (and `cache.redis:`) section, or a new one; a section that is not a mapping is left to the
 * schema to report.
 */
function applyCacheFlags(raw: Record<string, unknown>, flags: FlagValues): ConfigIssue[] {
  if (flags.redis === undefined && flags.cacheTtl === undefined) return [];
  if (raw.cache === undefined || raw.cache === null) raw.cache = {};
  const cache = raw.cache;
  if (!isRecord(cache)) return [];
  cache.enabled = true;
  const issues: ConfigIssue[] = [];
  if (flags.cacheTtl !== undefined) {
    // Number('') and Number('1e3') are numbers too; only plain digits are a whole number of seconds here.
    const whole = /^[0-9]+$/.test(flags.cacheTtl);
    if (!whole) {
      issues.push({ path: 'cache.ttl_seconds', message: `--cache-ttl expects a whole number of seconds, got ${JSON.stringify(flags.cacheTtl)}` });
    }
    cache.ttl_seconds = whole ? Number(flags.cacheTtl) : flags.cacheTtl;
  }
  if (flags.redis !== undefined) {
    cache.store = 'redis';
    if (cache.redis === undefined || cache.redis === null) cache.redis = {};
    const redis = cache.redis;
    if (isRecord(redis)) {
      // The flag's server replaces the file's, however the file gave it (URL, variable or cluster seeds).
      delete redis.url_env;
      delete redis.cluster;
      delete redis.nodes;
      // The cluster's credentials and TLS go with its seeds (a standalone URL carries its own).
      for (const key of ['username', 'password', 'password_env', 'tls']) delete redis[key];
      redis.url = flags.redis;
    }
  }
  return issues;
}
