/**
 * Whether one read may use the result cache, and under which key (issue 5). Everything the SQL text can tell comes
 * from src/router (tables, non-deterministic functions, system tables, hints); everything else from the session.
 * A query is cached only when every test passes: a wrong miss costs a backend query, a wrong hit serves wrong data.
 */
import { cacheKey, type KeyPair } from '../cache';
import type { ClientQuery, Setting } from '../protocol';
import {
  cacheHints,
  nonDeterministicFunctionIn,
  normalizeForCacheKey,
  normalizeSql,
  readsSystemTables,
  statementTables,
  type Classification,
  type TableRef,
} from '../router';

/** Why a query did not use the cache: the `reason` label of gatehouse_cache_bypass_total. */
export type BypassReason =
  | 'not_read'
  | 'pinned'
  | 'read_after_write'
  | 'stage'
  | 'hint'
  | 'rule'
  | 'nondeterministic'
  | 'system_tables'
  | 'unknown_tables'
  | 'external_tables'
  | 'store_down'
  | 'store_timeout'
  | 'store_full'
  | 'store_error'
  | 'too_large'
  | 'not_stored'
  | 'compression'
  | 'failed';

/** A cacheable read. */
export interface CachePlan {
  key: string;
  /** `db.table` of every table read, plus ALL_TABLES (see there). */
  tables: string[];
  ttlMs: number;
  /** Age after which a hit is still served but one refresh runs (stale-while-revalidate); null: off. */
  softTtlMs: number | null;
}

export type CacheDecision = { cache: true; plan: CachePlan } | { cache: false; reason: BypassReason };

/**
 * A pseudo-table every entry reads: a write whose tables the router cannot name invalidates it, and so every entry
 * (statementTables errs towards "incomplete").
 */
export const ALL_TABLES = '*';

/** QueryProcessingStage::Complete: what end-user clients ask for; other stages return intermediate blocks. */
const STAGE_COMPLETE = 2;

export interface CachePolicyInput {
  q: ClientQuery;
  cls: Classification;
  /** Proxy user name, or the client's user in pass-through mode. */
  userName: string;
  database: string;
  /** Backend group and backend user the read runs as. */
  group: string;
  backendUser: string;
  revision: number;
  /** The settings the backend will get (session SETs, the query's own, enforced ones). */
  settings: readonly Setting[];
  ttlSeconds: number;
  softTtlSeconds: number | null;
  /** Configured cache rules (first match), or null. */
  rule: (q: { user: string; database: string; normalizedSql: string }) => { cache: boolean; ttlSeconds: number | null } | null;
}

/** `db.table` as the cache names tables; unqualified names resolve in the session database (`default` when none). */
export function tableName(ref: TableRef, database: string): string {
  return `${ref.database ?? (database || 'default')}.${ref.table}`;
}

/** The decision for one read. Pure: no store is asked. */
export function cachePolicy(input: CachePolicyInput): CacheDecision {
  const { q, cls } = input;
  if (cls.kind !== 'read' || cls.session !== undefined) return { cache: false, reason: 'not_read' };
  if (q.stage !== STAGE_COMPLETE) return { cache: false, reason: 'stage' };
  const sql = q.query;
  const hints = cacheHints(sql);
  if (hints.noCache) return { cache: false, reason: 'hint' };
  let ttlSeconds = input.ttlSeconds;
  const rule = input.rule({ user: input.userName, database: input.database, normalizedSql: normalizeSql(sql) });
  if (rule !== null) {
    if (!rule.cache) return { cache: false, reason: 'rule' };
    if (rule.ttlSeconds !== null) ttlSeconds = rule.ttlSeconds;
  }
  if (hints.ttlSeconds !== null) ttlSeconds = hints.ttlSeconds;
  if (ttlSeconds <= 0) return { cache: false, reason: 'hint' };
  if (nonDeterministicFunctionIn(sql) !== null) return { cache: false, reason: 'nondeterministic' };
  if (readsSystemTables(sql, input.database)) return { cache: false, reason: 'system_tables' };
  const st = statementTables(sql);
  if (!st.complete) return { cache: false, reason: 'unknown_tables' };
  const tables = [...new Set(st.reads.map((r) => tableName(r, input.database)))];
  tables.push(ALL_TABLES);
  const settings: KeyPair[] = input.settings.map((s) => ({ name: s.name, value: s.value }));
  const parameters: KeyPair[] = (q.parameters ?? []).map((s) => ({ name: s.name, value: s.value }));
  const key = cacheKey({
    normalizedSql: normalizeForCacheKey(sql),
    database: input.database,
    readIdentity: `${input.group}\u0000${input.backendUser}`,
    revision: input.revision,
    settings,
    parameters,
  });
  const ttlMs = ttlSeconds * 1000;
  const soft = input.softTtlSeconds;
  return { cache: true, plan: { key, tables, ttlMs, softTtlMs: soft !== null && soft * 1000 < ttlMs ? soft * 1000 : null } };
}

/** Tables a write touches, as invalidation names them: ALL_TABLES when the router cannot name them all. */
export function writtenTables(sql: string, database: string): string[] {
  const st = statementTables(sql);
  if (!st.complete || st.writes.length === 0) return [ALL_TABLES];
  return [...new Set(st.writes.map((r) => tableName(r, database)))];
}
