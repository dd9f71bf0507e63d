import fc from 'fast-check';
import { classify, tokenize } from '../../../src/router';

const RUNS = { numRuns: 2000 };

/** SQL-ish fragments, so random strings hit quotes, comments, heredocs and keywords often. */
const fragment = fc.constantFrom(
  'SELECT', 'INSERT', 'INTO', 'VALUES', 'FORMAT', 'SETTINGS', 'WITH', 'SET', 'USE', 'DROP', 'CREATE', 'TEMPORARY',
  'TABLE', 'FROM', ' ', '\n', '\t', '(', ')', '[', ']', '{', '}', ',', ';', '.', '=', '-', '--', '/*', '*/', '#', '# ',
  '//', "'", '"', '`', '\\', '$$', '$t$', '$', "x'", '0x', '1', '1.5e', 'é', '😀', '\u00a0', 't', 'a = 1', '!',
);
const sqlish = fc.array(fragment, { maxLength: 30 }).map((parts) => parts.join(''));
const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), sqlish);

/** Whitespace and comments that may precede a statement. */
const triviaPiece = fc.oneof(
  fc.constantFrom(' ', '\n', '\t', '\r\n', '\u00a0', '\u3000'),
  fc.string({ maxLength: 20 }).filter((s) => !s.includes('\n')).map((s) => `--${s}\n`),
  fc.string({ maxLength: 20 }).filter((s) => !s.includes('\n')).map((s) => `# ${s}\n`),
  fc.string({ maxLength: 20 }).filter((s) => !s.includes('/*') && !s.includes('*/') && !s.endsWith('*') && !s.endsWith('/'))
    .map((s) => `/*${s}*/`),
);
const trivia = fc.array(triviaPiece, { maxLength: 5 }).map((p) => p.join(''));

const SELECTS = [
  'SELECT 1', 'SELECT * FROM t', "SELECT 'INSERT INTO t VALUES'", 'SELECT a FROM db.t WHERE b IN (SELECT c FROM u)',
  'SELECT count() FROM numbers(10)', 'SELECT * FROM t SETTINGS max_threads = 1', 'SELECT * FROM t FORMAT JSON',
  'WITH x AS (SELECT 1) SELECT * FROM x', 'SELECT 1 UNION ALL SELECT 2', 'SELECT `drop` FROM `insert`',
  '(SELECT 1) UNION ALL (SELECT 2)', 'SELECT $$ DROP $$',
];
const READS = [...SELECTS, 'SHOW TABLES', 'DESCRIBE TABLE t', 'DESC t', 'EXISTS t', 'EXPLAIN SELECT 1', 'CHECK TABLE t'];

const KNOWN_FIRST = new Set([
  'SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXISTS', 'EXPLAIN', 'CHECK', 'INSERT', 'USE', 'SET', 'CREATE', 'ALTER',
  'DROP', 'TRUNCATE', 'RENAME', 'EXCHANGE', 'OPTIMIZE', 'ATTACH', 'DETACH', 'GRANT', 'REVOKE', 'KILL', 'SYSTEM',
  'DELETE', 'UPDATE', 'REPLACE', 'UNDROP', 'BACKUP', 'RESTORE', 'MOVE',
]);

describe('classify: properties', () => {
  it('never throws, and always answers a consistent route', () => {
    fc.assert(
      fc.property(anyString, (sql) => {
        const c = classify(sql);
        expect(c.route).toBe(c.kind === 'read' ? 'reader' : 'writer');
      }),
      RUNS,
    );
  });

  it('tokenize never throws and its tokens are ordered, non-empty and inside the input', () => {
    fc.assert(
      fc.property(anyString, (sql) => {
        let pos = 0;
        for (const t of tokenize(sql, { trivia: true })) {
          expect(t.start).toBe(pos);
          expect(t.end).toBeGreaterThan(t.start);
          pos = t.end;
        }
        expect(pos).toBe(sql.length);
      }),
      RUNS,
    );
  });

  it('leading comments / whitespace and a trailing ; do not change a read', () => {
    fc.assert(
      fc.property(fc.constantFrom(...READS), trivia, fc.boolean(), (sql, prefix, semi) => {
        const base = classify(sql);
        expect(base.kind).toBe('read');
        expect(classify(prefix + sql + (semi ? ';' : ''))).toEqual(base);
      }),
      RUNS,
    );
  });

  it('wrapping a SELECT in parentheses (with trivia around) does not change it', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SELECTS), fc.integer({ min: 1, max: 4 }), trivia, trivia, (sql, n, a, b) => {
        const wrapped = `${a}${'('.repeat(n)}${b}${sql}${')'.repeat(n)}`;
        expect(classify(wrapped)).toEqual(classify(sql));
      }),
      RUNS,
    );
  });

  it('changing the letter case of keywords does not change the classification', () => {
    const statements = [...READS, 'INSERT INTO t VALUES', 'INSERT INTO t SELECT 1', 'CREATE TEMPORARY TABLE x (a UInt8)', 'SET a = 1'];
    fc.assert(
      fc.property(fc.constantFrom(...statements), fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }), (sql, flips) => {
        // Flip the case of letters outside quotes only (identifier case matters to the server).
        let quoted = false;
        const mixed = [...sql].map((ch, i) => {
          if (ch === "'" || ch === '`' || ch === '$') quoted = !quoted;
          return !quoted && flips[i % 64] ? ch.toLowerCase() : ch;
        }).join('');
        const a = classify(sql);
        const b = classify(mixed);
        expect(b.kind).toBe(a.kind);
        expect(b.statement).toBe(a.statement);
        expect(b.insert?.expectsData).toBe(a.insert?.expectsData);
      }),
      RUNS,
    );
  });

  it('any statement whose first keyword is unknown routes to the writer', () => {
    const word = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/).filter((w) => !KNOWN_FIRST.has(w.toUpperCase()));
    fc.assert(
      fc.property(trivia, word, anyString, (prefix, first, rest) => {
        const c = classify(`${prefix}${first} ${rest}`);
        expect(c.kind).toBe('unknown');
        expect(c.route).toBe('writer');
        expect(c.statement).toBe(first.toUpperCase());
      }),
      RUNS,
    );
  });

  it('INSERT … VALUES expects data exactly when nothing but trivia follows VALUES', () => {
    const tail = fc.oneof(
      fc.constant({ rest: '', inline: false }),
      trivia.map((rest) => ({ rest, inline: false })),
      fc.string({ maxLength: 40 }).map((s) => ({ rest: ` (${s}`, inline: true })),
    );
    fc.assert(
      fc.property(trivia, tail, (prefix, { rest, inline }) => {
        const c = classify(`${prefix}INSERT INTO db.t (a, b) VALUES${rest}`);
        expect(c.kind).toBe('write');
        expect(c.insert?.expectsData).toBe(!inline);
        expect(c.insert?.table).toBe('t');
      }),
      RUNS,
    );
  });

  it('data after INSERT … FORMAT fmt is never lexed as SQL', () => {
    fc.assert(
      // Data that begins with the word SETTINGS is excluded: after the format name ClickHouse's own parser
      // (ParserInsertQuery) reads a SETTINGS clause there, and so does the classifier.
      fc.property(anyString.filter((s) => /\S/.test(s) && !/^[\s;]*$/.test(s) && !/^\s*settings\b/i.test(s)), (data) => {
        const c = classify(`INSERT INTO t FORMAT CSV\n${data}`);
        expect(c.insert).toEqual({ table: 't', database: null, expectsData: false, format: 'CSV', select: false });
      }),
      RUNS,
    );
  });
});
