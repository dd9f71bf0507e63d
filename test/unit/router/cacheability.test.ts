import fc from 'fast-check';
import {
  cacheHints, MAX_HINT_TTL_SECONDS, nonDeterministicFunctionIn, nonDeterministicFunctions, normalizeForCacheKey,
  readsSystemTables, statementTables, usesNonDeterministicFunction, type TableRef,
} from '../../../src/router/cacheability';

const t = (table: string, database: string | null = null): TableRef => ({ database, table });

describe('statementTables', () => {
  it.each<[string, TableRef[], TableRef[]]>([
    ['SELECT * FROM t', [t('t')], []],
    ['select a from DB.T as x', [t('T', 'DB')], []],
    ['SELECT * FROM `my db`."my t" FINAL WHERE 1', [t('my t', 'my db')], []],
    ['SELECT a FROM db.t AS x JOIN "u" ON x.id = u.id LEFT ARRAY JOIN arr AS e', [t('t', 'db'), t('u')], []],
    ['SELECT * FROM a GLOBAL ANY LEFT JOIN b USING id INNER JOIN c ON 1', [t('a'), t('b'), t('c')], []],
    ['SELECT * FROM a, b AS bb, db.c', [t('a'), t('b'), t('c', 'db')], []],
    ['SELECT * FROM (SELECT * FROM a) s, b', [t('a'), t('b')], []],
    ['SELECT * FROM (SELECT * FROM a UNION ALL SELECT * FROM b) JOIN (SELECT 1 FROM c) USING x', [t('a'), t('b'), t('c')], []],
    ['WITH c AS (SELECT * FROM base) SELECT * FROM c JOIN other o ON 1', [t('base'), t('other')], []],
    ['WITH (SELECT max(x) FROM m) AS top SELECT * FROM t WHERE x = top', [t('m'), t('t')], []],
    ['SELECT * FROM t WHERE x IN (SELECT y FROM z) AND w NOT IN db.s AND v GLOBAL IN u', [t('t'), t('z'), t('s', 'db'), t('u')], []],
    ['WITH [1, 2] AS arr SELECT 1 IN arr FROM t', [t('t')], []],
    ['SELECT extract(YEAR FROM d), trim(BOTH \' \' FROM s), position(\'a\' IN s) FROM t', [t('t')], []],
    ['SELECT count() FROM t SETTINGS max_threads = 1 FORMAT TSV', [t('t')], []],
    ['(SELECT 1 FROM a) UNION ALL (SELECT 2 FROM b)', [t('a'), t('b')], []],
    ['SELECT * FROM t AS t1 JOIN t AS t2 ON 1', [t('t')], []],
    ['EXPLAIN SELECT * FROM t', [t('t')], []],
    ['DESCRIBE TABLE db.t', [t('t', 'db')], []],
    ['DESC t', [t('t')], []],
    ['EXISTS TABLE t', [t('t')], []],
    ['SHOW CREATE TABLE db.t', [t('t', 'db')], []],
    ['CHECK TABLE t', [t('t')], []],
    ["SELECT 'FROM x', \"FROM\" FROM t -- FROM y\n/* JOIN z */", [t('t')], []],
    ['INSERT INTO db.t SELECT * FROM src', [t('src')], [t('t', 'db')]],
    ['INSERT INTO t (a, b) SETTINGS x = 1 WITH c AS (SELECT 1 FROM s) SELECT * FROM c', [t('s')], [t('t')]],
    ["INSERT INTO t VALUES (1, 'FROM x')", [], [t('t')]],
    ['INSERT INTO t FORMAT TSV\nFROM\tJOIN x\n', [], [t('t')]],
    ['ALTER TABLE t MOVE PARTITION 1 TO TABLE db.t2', [], [t('t'), t('t2', 'db')]],
    ['ALTER TABLE t DELETE IN PARTITION p WHERE id IN (SELECT id FROM gone)', [t('gone')], [t('t')]],
    ['ALTER TABLE db.t ON CLUSTER c UPDATE x = 1 WHERE 1', [], [t('t', 'db')]],
    ['ALTER TABLE t REPLACE PARTITION 1 FROM src', [t('src')], [t('t')]],
    ['CREATE TABLE t ENGINE = Memory AS SELECT * FROM src', [t('src')], [t('t')]],
    ['CREATE OR REPLACE VIEW v AS SELECT * FROM src', [t('src')], [t('v')]],
    ['CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv ON CLUSTER c TO tgt AS SELECT * FROM src', [t('src')], [t('mv', 'db'), t('tgt')]],
    ['CREATE TEMPORARY TABLE tmp (x UInt8 DEFAULT now())', [], [t('tmp')]],
    ['DROP TABLE IF EXISTS a, db.b SYNC', [], [t('a'), t('b', 'db')]],
    ['DROP DICTIONARY d', [], [t('d')]],
    ['RENAME TABLE a TO b, db.c TO db.d', [], [t('a'), t('b'), t('c', 'db'), t('d', 'db')]],
    ['EXCHANGE TABLES a AND b', [], [t('a'), t('b')]],
    ['TRUNCATE TABLE IF EXISTS t', [], [t('t')]],
    ['OPTIMIZE TABLE db.t FINAL', [], [t('t', 'db')]],
    ['DELETE FROM t WHERE x IN (SELECT x FROM u)', [t('u')], [t('t')]],
    ['UPDATE t SET x = 1 WHERE 1', [], [t('t')]],
    ['DETACH TABLE t', [], [t('t')]],
    ['SET max_threads = 1', [], []],
    ['USE db', [], []],
    ['SELECT 1;', [], []],
  ])('%s', (sql, reads, writes) => {
    const r = statementTables(sql);
    expect(r).toMatchObject({ reads, writes, complete: true, reason: null });
  });

  it('table functions are noted; only the transparent ones keep the result complete', () => {
    expect(statementTables('SELECT * FROM numbers(10) JOIN zeros(5) USING x')).toEqual({
      reads: [], writes: [], tableFunctions: ['numbers', 'zeros'], complete: true, reason: null,
    });
    expect(statementTables('SELECT * FROM view(SELECT * FROM t)')).toMatchObject({ reads: [t('t')], tableFunctions: ['view'], complete: true });
    expect(statementTables("SELECT * FROM remote('h', db, t)")).toMatchObject({ tableFunctions: ['remote'], complete: false, reason: 'table function remote' });
  });

  it.each([
    ["SELECT * FROM remote('h', db.t)", 'table function remote'],
    ["SELECT * FROM merge(db, '^t')", 'table function merge'],
    ["SELECT * FROM url('http://x', CSV)", 'table function url'],
    ["SELECT * FROM t JOIN file('f.csv') USING x", 'table function file'],
    ["SELECT dictGet('d', 'a', toUInt64(1)) FROM t", 'dictget reads a table or dictionary it names in a string'],
    ["SELECT joinGet('j', 'v', 1)", 'joinget reads a table or dictionary it names in a string'],
    ['SELECT * FROM {t:Identifier}', 'query parameter as a name'],
    ['SELECT * FROM (t1 JOIN t2 USING x)', 'parenthesised table expression'],
    ['SELECT 1; SELECT 2', 'several statements'],
    ["SELECT 'unterminated", 'lexer error'],
    ['SHOW TABLES', 'SHOW reads system tables'],
    ['CREATE DATABASE d', 'CREATE DATABASE'],
    ['DROP DATABASE d', 'DROP DATABASE'],
    ['RENAME DATABASE a TO b', 'RENAME DATABASE'],
    ['CREATE USER u', 'CREATE USER'],
    ['GRANT SELECT ON t TO u', 'statement GRANT'],
    ['SYSTEM RELOAD DICTIONARIES', 'statement SYSTEM'],
    ["INSERT INTO FUNCTION remote('h', db.t) VALUES (1)", 'INSERT INTO FUNCTION'],
    ['INSERT INTO t SELECT * FROM input(\'x UInt8\') FORMAT TSV', 'table function input'],
    ['', 'empty statement'],
    ['42', 'no leading keyword'],
  ])('incomplete: %s', (sql, reason) => {
    expect(statementTables(sql)).toMatchObject({ complete: false, reason });
  });

  it('never throws, and the lists hold no duplicates (property)', () => {
    const piece = fc.constantFrom('SELECT', 'FROM', 'JOIN', 'IN', 'WITH', 'AS', 'INSERT', 'INTO', 'ALTER', 'TABLE', 'DROP',
      'RENAME', 'TO', ',', '(', ')', '.', ';', 't', 'db', "'s'", 'numbers', '1', '{', '}', 'FORMAT', 'VALUES', '--', '/*');
    fc.assert(fc.property(fc.array(piece, { maxLength: 30 }), fc.string(), (ps, extra) => {
      const r = statementTables(ps.join(' ') + extra);
      for (const list of [r.reads, r.writes]) {
        expect(new Set(list.map((x) => JSON.stringify(x))).size).toBe(list.length);
      }
      expect(r.complete).toBe(r.reason === null);
    }), { numRuns: 2000 });
  });
});

describe('non-deterministic functions', () => {
  it('one list, unique names, each with a reason', () => {
    const names = nonDeterministicFunctions.map((f) => f.name.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
    expect(nonDeterministicFunctions.every((f) => f.reason.length > 0)).toBe(true);
    for (const n of ['now', 'today', 'rand', 'generateUUIDv4', 'rowNumberInAllBlocks', 'currentUser', 'hostName', 'queryID']) {
      expect(names).toContain(n.toLowerCase());
    }
  });

  it.each([
    ['SELECT now()', 'now'],
    ['SELECT NOW ()', 'now'],
    ['select toDate(Today())', 'today'],
    ['SELECT * FROM t WHERE d > yesterday()', 'yesterday'],
    ['SELECT rand(1) % 10', 'rand'],
    ['SELECT generateUUIDv4()', 'generateUUIDv4'],
    ['SELECT user()', 'user'],
    ["SELECT * FROM t WHERE host = hostName /* c */ ()", 'hostName'],
  ])('%s uses %s', (sql, name) => {
    expect(usesNonDeterministicFunction(sql)).toBe(true);
    expect(nonDeterministicFunctionIn(sql)!.name).toBe(name);
  });

  it.each([
    'SELECT 1',
    "SELECT 'now()'",
    'SELECT "now"',
    'SELECT now',
    'SELECT t.now FROM t',
    'SELECT 1 -- now()\n',
    'SELECT /* rand() */ 1',
    'SELECT currentDatabase(), version()',
    'SELECT nowhere(1), random_col, today_x()',
  ])('%s is deterministic', (sql) => {
    expect(usesNonDeterministicFunction(sql)).toBe(false);
  });
});

describe('readsSystemTables', () => {
  it.each([
    ['SELECT * FROM system.tables', true],
    ['SELECT * FROM SYSTEM.tables', true],
    ['SELECT * FROM "system".`parts`', true],
    ['SELECT * FROM INFORMATION_SCHEMA.COLUMNS', true],
    ['SELECT * FROM information_schema.tables', true],
    ['SELECT * FROM t WHERE x IN (SELECT name FROM system.databases)', true],
    ['SHOW TABLES', true],
    ['show processlist', true],
    ['SELECT * FROM t', false],
    ["SELECT 'system.tables'", false],
    ['SELECT system FROM t', false],
    ['SELECT t.system FROM t', false],
    ['SELECT 1 /* system.tables */', false],
  ])('%s → %s', (sql, expected) => {
    expect(readsSystemTables(sql)).toBe(expected);
  });

  it('the current database counts when given', () => {
    expect(readsSystemTables('SELECT * FROM tables', 'system')).toBe(true);
    expect(readsSystemTables('SELECT * FROM tables', 'INFORMATION_SCHEMA')).toBe(true);
    expect(readsSystemTables('SELECT * FROM tables', 'default')).toBe(false);
    expect(readsSystemTables('SELECT * FROM tables', null)).toBe(false);
  });
});

describe('cacheHints', () => {
  const none = { noCache: false, ttlSeconds: null };
  it.each([
    ['SELECT 1', none],
    ['/* gatehouse: no_cache */ SELECT 1', { noCache: true, ttlSeconds: null }],
    ['SELECT 1 /* gatehouse: cache_ttl=300 */', { noCache: false, ttlSeconds: 300 }],
    ['SELECT /*GATEHOUSE:Cache_TTL = 60*/ 1', { noCache: false, ttlSeconds: 60 }],
    ['SELECT 1 -- gatehouse: no_cache', { noCache: true, ttlSeconds: null }],
    ['SELECT 1 # gatehouse: cache_ttl=5', { noCache: false, ttlSeconds: 5 }],
    ['/* gatehouse: no_cache, cache_ttl=10 */ SELECT 1', { noCache: true, ttlSeconds: 10 }],
    ['/* gatehouse: cache_ttl=10 */ SELECT 1 /* gatehouse: cache_ttl=3 */', { noCache: false, ttlSeconds: 3 }],
    ["SELECT '/* gatehouse: no_cache */'", none],
    ['SELECT "-- gatehouse: no_cache"', none],
    ['/* not gatehouse: no_cache */ SELECT 1', none],
    ['/* gatehouse: nocache */ SELECT 1', none],
    ['/* gatehouse: cache_ttl=-1 */ SELECT 1', none],
    ['/* gatehouse: cache_ttl=abc */ SELECT 1', none],
    [`/* gatehouse: cache_ttl=${MAX_HINT_TTL_SECONDS + 1} */ SELECT 1`, none],
    ['/* gatehouse: cache_ttl=0 */ SELECT 1', { noCache: false, ttlSeconds: 0 }],
    ['/* outer /* gatehouse: no_cache */ still outer */ SELECT 1', none],
    ['SELECT 1; /* gatehouse: no_cache */ ', none],
    ['SELECT 1 /* gatehouse: no_cache', { noCache: false, ttlSeconds: null }],
  ])('%s', (sql, expected) => {
    expect(cacheHints(sql)).toEqual(expected);
  });
});

describe('normalizeForCacheKey', () => {
  it.each([
    ['select  a , b from t -- c\n where s = \'A  b\';', "SELECT a, b FROM t WHERE s = 'A  b'"],
    ['SELECT count ( * ) FROM t', 'SELECT count(*) FROM t'],
    ['SELECT COUNT(*) FROM t', 'SELECT COUNT(*) FROM t'],
    ['SELECT x AS first, y AS Step FROM t', 'SELECT x AS first, y AS Step FROM t'],
    ['select system.tables.name from system.tables', 'SELECT system.tables.name FROM system.tables'],
    ["SELECT 'Keep Case', \"Col\", `x y`, 0x1F, 1e3", "SELECT 'Keep Case', \"Col\", `x y`, 0x1F, 1e3"],
    ['SELECT 1 ;; ', 'SELECT 1'],
    ['SELECT 1; SELECT 2;', 'SELECT 1; SELECT 2'],
    ['SELECT a - -1, a--1\n', 'SELECT a - -1, a'],
    ['select x in (1,2) , not(y)', 'SELECT x IN(1, 2), NOT(y)'],
    ['SELECT $$a  b$$', 'SELECT $$a  b$$'],
    ["insert into t values (1,  'x')  ,(2,'y')", "INSERT INTO t VALUES (1,  'x')  ,(2,'y')"],
    ['insert into t format TSV\n1\t2\n', 'INSERT INTO t FORMAT TSV\n1\t2\n'],
    ['', ''],
    ['  -- only a comment', ''],
  ])('%j → %j', (sql, expected) => {
    expect(normalizeForCacheKey(sql)).toBe(expected);
  });

  it('different literals give different keys', () => {
    const keys = ["SELECT * FROM t WHERE s = 'a'", "SELECT * FROM t WHERE s = 'A'", "SELECT * FROM t WHERE s = 'a '",
      'SELECT * FROM t WHERE n = 1', 'SELECT * FROM t WHERE n = 1.0', 'SELECT * FROM t WHERE n = 01', 'SELECT * FROM t WHERE n IN (1, 2)',
      'SELECT * FROM t WHERE n IN (2, 1)'].map(normalizeForCacheKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  const KEYWORDS = ['SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'GROUP', 'BY', 'ORDER', 'LIMIT', 'AS', 'JOIN', 'ON', 'IN', 'NOT', 'DESC'];
  const PIECES = ["'Str  ing'", '"Quoted"', '42', '1.5', 'col', 'Tab', 'db.t', 'f(x)', 'count()', '(', ')', ',', '=', '-', '+', '*', '[1, 2]', ...KEYWORDS];
  const SEPARATORS = [' ', '  ', '\n', '\t', ' /* c */ ', ' -- c\n', '/**/ ', ' \u00a0'];

  it('texts that differ only in comments, whitespace and keyword case give one key (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 25 }),
      fc.array(fc.constantFrom(...SEPARATORS), { minLength: 25, maxLength: 25 }),
      fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
      (pieces, seps, lower) => {
        const plain = pieces.join(' ');
        // Not varied: a word after AS (an alias names a result column) and a word before `(` (a function name,
        // unless normalizeSql knows it as a keyword there) keep their case by design.
        const varied = (i: number) => KEYWORDS.includes(pieces[i]) && lower[i] && pieces[i - 1] !== 'AS' && pieces[i + 1] !== '(';
        const variant = pieces.map((p, i) => (varied(i) ? p.toLowerCase() : p) + seps[i]).join('');
        expect(normalizeForCacheKey(variant)).toBe(normalizeForCacheKey(plain));
      },
    ), { numRuns: 1500 });
  });

  it('never throws and is idempotent on any input (property)', () => {
    const sqlish = fc.array(fc.oneof(fc.constantFrom(...PIECES, ...SEPARATORS, ';', '.', '.5', '#', '# ', '$', '$a$', "'", '"', '`', '/*', '--', 'INSERT', 'VALUES', 'FORMAT'), fc.string({ maxLength: 3 })), { maxLength: 30 }).map((a) => a.join(''));
    fc.assert(fc.property(fc.oneof(sqlish, fc.string(), fc.string({ unit: 'binary' })), (sql) => {
      const once = normalizeForCacheKey(sql);
      expect(normalizeForCacheKey(once)).toBe(once);
    }), { numRuns: 5000 });
  });
});
