/**
 * The `cache.rules` of the configuration as one function: which queries are cached, and for how long. Pure (no I/O);
 * patterns are compiled once here, not per query.
 */
import type { CacheRuleConfig } from '../config';

/** What a rule needs to know about a query. */
export interface CacheRuleQuery {
  /** Proxy user name (the client's user in pass-through mode). */
  readonly user: string;
  /** The session's database. */
  readonly database: string;
  /** The SQL with literals replaced by `?` (the router's normalization, as in the cache key). */
  readonly normalizedSql: string;
}

/** The matching rule's decision: cache or not, and its TTL (null: the default cache.ttl_seconds). */
export interface CacheRuleDecision {
  readonly cache: boolean;
  readonly ttlSeconds: number | null;
}

/** Decides for one query; null when no rule matches (then the query is cached with the default TTL). */
export type CacheRuleMatcher = (q: CacheRuleQuery) => CacheRuleDecision | null;

/**
 * Compiles the rules in order: the first one whose conditions all hold (user and database equal, pattern found in
 * the normalized SQL) decides. The config has already checked every pattern, so `new RegExp` does not throw here.
 */
export function compileCacheRules(rules: readonly CacheRuleConfig[]): CacheRuleMatcher {
  const compiled = rules.map((r) => ({
    user: r.user,
    database: r.database,
    // No flags: a /g or /y regex keeps lastIndex between test() calls, which would make matching depend on history.
    pattern: r.pattern === undefined ? undefined : new RegExp(r.pattern),
    decision: { cache: r.cache, ttlSeconds: r.ttl_seconds ?? null } as const,
  }));
  return (q) => {
    for (const r of compiled) {
      if (r.user !== undefined && r.user !== q.user) continue;
      if (r.database !== undefined && r.database !== q.database) continue;
      if (r.pattern !== undefined && !r.pattern.test(q.normalizedSql)) continue;
      return r.decision;
    }
    return null;
  };
}
