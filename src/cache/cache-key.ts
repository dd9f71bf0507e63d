/**
 * Cache keys: a SHA-256 over every input that can change the packets a read returns, so two queries share an entry
 * only when the server would have answered both with the same bytes (or with answers equally valid for both).
 */
import { createHash, type Hash } from 'crypto';
import { ENTRY_FORMAT_VERSION } from './entry';

/** A name/value pair: a Query setting or a query parameter, value as text. */
export interface KeyPair {
  name: string;
  value: string;
}

/** Everything a cache key is made of. */
export interface CacheKeyParts {
  /**
   * The SQL with comments and insignificant whitespace removed, LITERALS KEPT. Not router's normalizeSql, which
   * replaces literals with `?` (a fingerprint for rules) and would make `id = 1` and `id = 2` one entry.
   */
  normalizedSql: string;
  /** Default database of the session (unqualified names resolve in it). */
  database: string;
  /** Backend read identity (target and user/role): row policies and grants can make results differ by user. */
  readIdentity: string;
  /** Negotiated protocol revision: the block format (and so the stored packets) depends on it. */
  revision: number;
  /** Effective settings of the query (session settings merged with the query's own; a later duplicate name wins). */
  settings: readonly KeyPair[];
  /** Query parameters ({name:Type} substitutions), all significant. */
  parameters: readonly KeyPair[];
}

/**
 * Settings that cannot change the packets a cache entry holds, each with the reason. Everything else is in the key:
 * an unknown setting costs at most a miss, a wrongly dropped one serves a wrong answer.
 *
 * Deliberately NOT here:
 * - max_block_size, preferred_block_size_bytes: they set block boundaries, which are visible in the packets, in
 *   blockSize()/rowNumberInBlock()/runningDifference() results and in clickhouse-client's Pretty output (one table
 *   per block);
 * - limits with an overflow mode (max_result_rows, max_rows_to_read, max_execution_time, …): with `break` they
 *   truncate the result; even with `throw` a client must not get from the cache a result its limits forbid;
 * - max_memory_usage and other resource limits: same reason (the server would have refused the query);
 * - readonly, load_balancing, session_timezone, output/input format settings: they can change results or errors.
 */
export const RESULT_NEUTRAL_SETTINGS: Readonly<Record<string, string>> = {
  max_threads: 'parallelism only: it can reorder rows where no ORDER BY fixes the order, which the server may do between any two runs anyway',
  priority: 'scheduling priority among concurrent queries',
  os_thread_priority: 'OS nice value of the query threads',
  send_logs_level: 'server logs travel in Log packets, which entries never hold',
  send_logs_source_regexp: 'filters Log packets, which entries never hold',
  log_queries: 'whether the query is written to system.query_log',
  log_queries_min_type: 'which query_log events are written',
  log_query_threads: 'whether system.query_thread_log is written',
  log_comment: 'a comment stored in system.query_log only',
  log_profile_events: 'whether profile events are written to the query log',
  interactive_delay: 'interval of Progress packets, which entries never hold',
  network_compression_method: 'wire compression: entries are stored uncompressed and replay compresses with the client\'s method',
  network_zstd_compression_level: 'wire compression level, as network_compression_method',
  connect_timeout: 'timeouts of the server\'s own connections (distributed queries): success or failure, not results',
  connect_timeout_with_failover_ms: 'as connect_timeout',
  receive_timeout: 'as connect_timeout',
  send_timeout: 'as connect_timeout',
  query_profiler_real_time_period_ns: 'sampling profiler period (system.trace_log)',
  query_profiler_cpu_time_period_ns: 'sampling profiler period (system.trace_log)',
  use_uncompressed_cache: 'whether the server caches decompressed blocks: speed only',
};

/** True when `name` cannot change a result (RESULT_NEUTRAL_SETTINGS); names compare exactly. */
export function isResultNeutralSetting(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(RESULT_NEUTRAL_SETTINGS, name);
}

/** Feeds one length-prefixed string, so no two sequences of fields hash the same bytes. */
function field(h: Hash, s: string): void {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32LE(b.length, 0);
  h.update(len).update(b);
}

/** Name → value with later duplicates winning, sorted by name (UTF-16 code unit order, stable across runs). */
function effective(pairs: readonly KeyPair[], keep: (name: string) => boolean): [string, string][] {
  const m = new Map<string, string>();
  for (const p of pairs) if (keep(p.name)) m.set(p.name, p.value);
  return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function pairs(h: Hash, tag: string, list: [string, string][]): void {
  field(h, tag);
  field(h, String(list.length));
  for (const [n, v] of list) {
    field(h, n);
    field(h, v);
  }
}

/**
 * The cache key of a read: `v<ENTRY_FORMAT_VERSION>:<sha256 hex>`. Order of settings and parameters does not
 * matter; result-neutral settings are ignored; every other part changes the key.
 */
export function cacheKey(parts: CacheKeyParts): string {
  const h = createHash('sha256');
  field(h, `gatehouse-cache-key/${ENTRY_FORMAT_VERSION}`);
  field(h, parts.normalizedSql);
  field(h, parts.database);
  field(h, parts.readIdentity);
  field(h, String(parts.revision));
  pairs(h, 'settings', effective(parts.settings, (n) => !isResultNeutralSetting(n)));
  pairs(h, 'parameters', effective(parts.parameters, () => true));
  return `v${ENTRY_FORMAT_VERSION}:${h.digest('hex')}`;
}
