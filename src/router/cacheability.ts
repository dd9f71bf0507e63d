/**
 * Pure checks the result cache (issue 5) makes on a statement's SQL before it may store a result: non-deterministic
 * functions, system tables, per-query hints in comments. With statementTables (statement-tables.ts) and
 * normalizeForCacheKey (cache-key-sql.ts) this is everything the cache needs from the SQL text. All lexer-based:
 * nothing inside a string, quoted identifier or comment is mistaken for SQL; none of them throws.
 */
import { Lexer, TokenKind, keywordAt } from './lexer';
import { unquote } from './unquote';

export { statementTables } from './statement-tables';
export type { StatementTables, TableRef } from './statement-tables';
export { normalizeForCacheKey } from './cache-key-sql';

/** A function whose result can differ between two runs of the same query with the same key, and why. */
export interface NonDeterministicFunction {
  /** As documented; matched case-insensitively (an extra miss is cheap, a wrong hit is not). */
  readonly name: string;
  readonly reason: string;
}

/**
 * THE list of functions that make a query uncacheable. The cache key holds the SQL, database, backend read identity,
 * revision and result-changing settings, but not the user, the connection, the replica that answered or the time:
 * a function that depends on any of those is here. Left out on purpose: currentDatabase (the database is in the key),
 * timezone / serverTimezone / version (fixed per backend, which is in the key), `any`-like aggregates and unordered
 * results (every answer the server may give is a correct one), sleep (slow, but its result is fixed).
 */
export const nonDeterministicFunctions: readonly NonDeterministicFunction[] = [
  // Time.
  { name: 'now', reason: 'current time' },
  { name: 'now64', reason: 'current time' },
  { name: 'nowInBlock', reason: 'current time, per block' },
  { name: 'today', reason: 'current date' },
  { name: 'yesterday', reason: 'current date' },
  { name: 'current_timestamp', reason: 'alias of now' },
  { name: 'current_date', reason: 'alias of today' },
  { name: 'localtimestamp', reason: 'alias of now' },
  { name: 'UTCTimestamp', reason: 'alias of now (in UTC)' },
  { name: 'UTC_timestamp', reason: 'alias of now (in UTC)' },
  { name: 'uptime', reason: 'seconds since the server started' },
  { name: 'initialQueryStartTime', reason: 'start time of this query' },
  // Randomness.
  { name: 'rand', reason: 'random' },
  { name: 'rand32', reason: 'random' },
  { name: 'rand64', reason: 'random' },
  { name: 'randConstant', reason: 'random (one value per query)' },
  { name: 'randCanonical', reason: 'random' },
  { name: 'randUniform', reason: 'random' },
  { name: 'randNormal', reason: 'random' },
  { name: 'randLogNormal', reason: 'random' },
  { name: 'randExponential', reason: 'random' },
  { name: 'randChiSquared', reason: 'random' },
  { name: 'randStudentT', reason: 'random' },
  { name: 'randFisherF', reason: 'random' },
  { name: 'randBernoulli', reason: 'random' },
  { name: 'randBinomial', reason: 'random' },
  { name: 'randNegativeBinomial', reason: 'random' },
  { name: 'randPoisson', reason: 'random' },
  { name: 'randomString', reason: 'random' },
  { name: 'randomFixedString', reason: 'random' },
  { name: 'randomPrintableASCII', reason: 'random' },
  { name: 'randomStringUTF8', reason: 'random' },
  { name: 'fuzzBits', reason: 'random' },
  { name: 'arrayShuffle', reason: 'random unless seeded' },
  { name: 'arrayPartialShuffle', reason: 'random unless seeded' },
  { name: 'arrayRandomSample', reason: 'random' },
  { name: 'generateRandom', reason: 'random table function unless seeded' },
  { name: 'generateRandomStructure', reason: 'random unless seeded' },
  { name: 'generateUUIDv4', reason: 'new UUID each call' },
  { name: 'generateUUIDv7', reason: 'new UUID each call (time based)' },
  { name: 'generateULID', reason: 'new ULID each call (time based)' },
  { name: 'generateSnowflakeID', reason: 'new ID each call (time based)' },
  { name: 'generateSerialID', reason: 'a counter kept in Keeper' },
  // Block and execution layout (depends on max_block_size, threads, parts).
  { name: 'rowNumberInBlock', reason: 'depends on block layout' },
  { name: 'rowNumberInAllBlocks', reason: 'depends on block order across threads' },
  { name: 'blockNumber', reason: 'depends on block layout' },
  { name: 'blockSize', reason: 'depends on block layout' },
  { name: 'blockSerializedSize', reason: 'depends on block layout' },
  { name: 'runningDifference', reason: 'per block, order of blocks is not fixed' },
  { name: 'runningDifferenceStartingWithFirstValue', reason: 'per block, order of blocks is not fixed' },
  { name: 'runningAccumulate', reason: 'per block, order of blocks is not fixed' },
  { name: 'neighbor', reason: 'per block, order of blocks is not fixed' },
  // Who and where: not in the key.
  { name: 'currentUser', reason: 'the user is not in the key' },
  { name: 'user', reason: 'alias of currentUser' },
  { name: 'current_user', reason: 'alias of currentUser' },
  { name: 'currentRoles', reason: 'the user is not in the key' },
  { name: 'enabledRoles', reason: 'the user is not in the key' },
  { name: 'defaultRoles', reason: 'the user is not in the key' },
  { name: 'currentProfiles', reason: 'the user is not in the key' },
  { name: 'enabledProfiles', reason: 'the user is not in the key' },
  { name: 'defaultProfiles', reason: 'the user is not in the key' },
  { name: 'getSetting', reason: 'any setting, not only the result-changing ones in the key' },
  { name: 'getSettingOrDefault', reason: 'any setting, not only the result-changing ones in the key' },
  { name: 'getServerSetting', reason: 'server configuration, may change on reload' },
  { name: 'getMacro', reason: 'differs per replica of one backend pool' },
  { name: 'hostName', reason: 'differs per replica of one backend pool (also spelt hostname)' },
  { name: 'FQDN', reason: 'differs per replica of one backend pool' },
  { name: 'serverUUID', reason: 'differs per replica of one backend pool' },
  { name: 'shardNum', reason: 'differs per shard' },
  { name: 'replicaNum', reason: 'differs per replica' },
  { name: 'displayName', reason: 'differs per replica of one backend pool' },
  { name: 'filesystemAvailable', reason: 'disk state' },
  { name: 'filesystemFree', reason: 'disk state' },
  { name: 'filesystemUnreserved', reason: 'disk state' },
  { name: 'filesystemCapacity', reason: 'disk state' },
  { name: 'queryID', reason: 'new for every query' },
  { name: 'query_id', reason: 'alias of queryID' },
  { name: 'currentQueryID', reason: 'new for every query' },
  { name: 'initialQueryID', reason: 'new for every query' },
  { name: 'initial_query_id', reason: 'alias of initialQueryID' },
  { name: 'connectionId', reason: 'per connection' },
  { name: 'connection_id', reason: 'alias of connectionId' },
  { name: 'getClientHTTPHeader', reason: 'per request' },
  { name: 'transactionID', reason: 'per transaction' },
  { name: 'transactionLatestSnapshot', reason: 'per transaction' },
  { name: 'transactionOldestSnapshot', reason: 'per transaction' },
  { name: 'zookeeperSessionUptime', reason: 'Keeper session state' },
  // Outside data the cache cannot see change (also marks statementTables incomplete as table functions).
  { name: 'file', reason: 'reads a server file' },
  { name: 'url', reason: 'reads a URL' },
  { name: 's3', reason: 'reads object storage' },
  { name: 'hdfs', reason: 'reads HDFS' },
  { name: 'executable', reason: 'runs a script' },
  { name: 'catboostEvaluate', reason: 'external model file' },
  { name: 'modelEvaluate', reason: 'external model file' },
];

const NON_DETERMINISTIC: ReadonlyMap<string, NonDeterministicFunction> = new Map(
  nonDeterministicFunctions.map((f) => [f.name.toLowerCase(), f]),
);

/**
 * The first function call (`name(` or `name (`, outside strings and comments, not after a dot) in `sql` whose
 * name is in nonDeterministicFunctions, or null.
 */
export function nonDeterministicFunctionIn(sql: string): NonDeterministicFunction | null {
  const lx = new Lexer(sql);
  let prev: TokenKind = TokenKind.Eof;
  let word = -1; // start of a word that may name a function, -1 if the previous token is not one
  let wordEnd = -1;
  for (;;) {
    const k = lx.nextSignificant();
    if (k === TokenKind.Eof) return null;
    if (k === TokenKind.LParen && word >= 0) {
      const f = NON_DETERMINISTIC.get(sql.slice(word, wordEnd).toLowerCase());
      if (f !== undefined) return f;
    }
    word = k === TokenKind.Word && prev !== TokenKind.Dot ? lx.start : -1;
    wordEnd = lx.end;
    prev = k;
  }
}

/** Does `sql` call a function from nonDeterministicFunctions? */
export function usesNonDeterministicFunction(sql: string): boolean {
  return nonDeterministicFunctionIn(sql) !== null;
}

/**
 * Does `sql` name the `system` or `information_schema` database (any case; `system.tables`, `"system".x`,
 * `INFORMATION_SCHEMA.COLUMNS`), or is it a SHOW statement (the server answers SHOW from system tables)? With
 * `database` (the session's current database), an unqualified name in `system` counts as well, conservatively: any
 * statement run with `system` or `information_schema` as the current database is reported.
 */
export function readsSystemTables(sql: string, database?: string | null): boolean {
  if (database != null && isSystemDatabase(database)) return true;
  const lx = new Lexer(sql);
  let first = true;
  let name: string | null = null; // the identifier just before, when it may be a database name
  for (;;) {
    const k = lx.nextSignificant();
    if (k === TokenKind.Eof) return false;
    if (first && k === TokenKind.Word && keywordAt(sql, lx.start, lx.end, 'SHOW')) return true;
    if (k !== TokenKind.LParen) first = false;
    if (k === TokenKind.Dot && name !== null && isSystemDatabase(name)) return true;
    if (k === TokenKind.Word) name = sql.slice(lx.start, lx.end);
    else if (k === TokenKind.QuotedIdentifier) name = unquote(sql.slice(lx.start, lx.end));
    else name = null;
  }
}

function isSystemDatabase(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === 'system' || lower === 'information_schema';
}

/** Per-query cache hints read from comments. */
export interface CacheHints {
  /** `/* gatehouse: no_cache *\/`: neither read nor store the cache for this query. */
  noCache: boolean;
  /** `/* gatehouse: cache_ttl=300 *\/`: seconds to keep the result (the smallest one when given twice), else null. */
  ttlSeconds: number | null;
}

/** Largest TTL a hint may ask for (one year): keeps the number exact and the cache's arithmetic safe. */
export const MAX_HINT_TTL_SECONDS = 366 * 24 * 3600;

const HINT = /^gatehouse\s*:\s*(.*)$/is;

/**
 * Hints in the comments of `sql` (block comments and `--` / `#` line comments; never inside strings):
 * `gatehouse: no_cache`, `gatehouse: cache_ttl=N`, several separated by commas or spaces in one comment.
 * Unknown directives and malformed TTLs are ignored (a typo must not break the query). clickhouse-client 18.16
 * sends comments to the server unchanged (test/integration/cache-hints-capture.test.ts), so the proxy sees them;
 * with --multiquery a leading comment is sent with the previous statement, after its `;`, so only comments before
 * the first `;` count: in multi-statement input a hint belongs inside its statement or just before its `;`.
 */
export function cacheHints(sql: string): CacheHints {
  const hints: CacheHints = { noCache: false, ttlSeconds: null };
  if (!/gatehouse/i.test(sql)) return hints; // the common case: no lexing
  const lx = new Lexer(sql);
  for (;;) {
    const k = lx.next();
    // clickhouse-client --multiquery sends `stmt; <comments before the next stmt>` (cache-hints-capture.test.ts):
    // comments after the statement's `;` belong to the next statement.
    if (k === TokenKind.Eof || k === TokenKind.Semicolon) return hints;
    if (k !== TokenKind.Comment) continue;
    const m = HINT.exec(commentBody(sql.slice(lx.start, lx.end)).trim());
    if (m === null) continue;
    for (const directive of m[1].replace(/\s*=\s*/g, '=').split(/[\s,]+/)) {
      const d = directive.toLowerCase();
      if (d === 'no_cache') hints.noCache = true;
      const ttl = /^cache_ttl=(\d{1,9})$/.exec(d);
      if (ttl !== null) {
        const n = Number(ttl[1]);
        if (n <= MAX_HINT_TTL_SECONDS && (hints.ttlSeconds === null || n < hints.ttlSeconds)) hints.ttlSeconds = n;
      }
    }
  }
}

/** The text of a comment token without its delimiters. */
function commentBody(text: string): string {
  if (text.startsWith('/*')) return text.slice(2, text.endsWith('*/') && text.length >= 4 ? -2 : undefined);
  return text.slice(text.startsWith('#') ? 1 : 2); // `--`, `//`, `# `
}
