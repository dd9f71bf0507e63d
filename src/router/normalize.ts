/**
 * SQL normalization: one text for all statements that differ only in literal values, spacing, comments and keyword
 * case. Routing rules match their patterns against it. Built on the lexer (lexer.ts), so it never looks inside
 * strings or quoted identifiers, never throws, and runs in linear time.
 *
 * It is a fingerprint, not an identity: `WHERE id = 1` and `WHERE id = 2` normalize alike, so a cache key built from it
 * must add the literal values (or the raw SQL).
 */
import { Lexer, TokenKind, keywordAt, type LexErrorReason } from './lexer';

/**
 * Words upper-cased as keywords (unless next to a dot: `system.tables`, `t.select` are names). Words that are also
 * common column or function names (key, date, name, value, type, default, any, alias, user, query, role, day…) are
 * left out on purpose: identifiers are case-sensitive in ClickHouse, and upper-casing `query` would make
 * `SELECT query` and `SELECT QUERY` (two different columns) one text. The words kept can still collide that way
 * (a column named `table` and one named `TABLE`); that is the price of matching `CREATE TABLE` however it is typed.
 */
const KEYWORDS: ReadonlySet<string> = new Set([
  'SELECT', 'FROM', 'WHERE', 'PREWHERE', 'GROUP', 'BY', 'ORDER', 'HAVING', 'LIMIT', 'OFFSET', 'FETCH', 'WITH', 'TOTALS',
  'ROLLUP', 'CUBE', 'AS', 'ON', 'USING', 'JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL', 'OUTER', 'CROSS', 'ALL', 'SEMI',
  'ANTI', 'ASOF', 'GLOBAL', 'ARRAY', 'UNION', 'EXCEPT', 'INTERSECT', 'DISTINCT', 'AND', 'OR', 'NOT', 'IN', 'IS', 'NULL',
  'LIKE', 'ILIKE', 'BETWEEN', 'CASE', 'WHEN', 'THEN', 'ELSE', 'END', 'ASC', 'DESC', 'NULLS', 'COLLATE', 'FINAL',
  'SAMPLE', 'INTO', 'OUTFILE', 'FORMAT', 'SETTINGS', 'INSERT', 'VALUES', 'UPDATE', 'DELETE', 'CREATE', 'ALTER', 'DROP',
  'TRUNCATE', 'RENAME', 'EXCHANGE', 'OPTIMIZE', 'ATTACH', 'DETACH', 'TABLE', 'DATABASE', 'VIEW', 'MATERIALIZED',
  'DICTIONARY', 'TEMPORARY', 'IF', 'EXISTS', 'SHOW', 'DESCRIBE', 'EXPLAIN', 'USE', 'SET', 'SYSTEM', 'KILL',
  'GRANT', 'REVOKE', 'PARTITION', 'ENGINE', 'PRIMARY', 'CHECK', 'CAST', 'INTERVAL', 'EXTRACT', 'TRUE', 'FALSE', 'OVER',
  'WINDOW', 'POPULATE', 'TTL', 'CLUSTER', 'TABLES', 'DATABASES', 'PROCESSLIST', 'FILL', 'STEP', 'INFILE', 'WATCH',
  'FUNCTION', 'REPLACE', 'UNDROP', 'LIVE', 'TO', 'FOR', 'TOP', 'TIES', 'ROWS', 'ONLY', 'NEXT', 'FIRST',
]);

/** Keywords by length and first letter, so a word is looked up without allocating (keywordAt compares in place). */
const KEYWORD_BUCKETS = new Map<number, string[]>();
for (const k of KEYWORDS) {
  const key = k.length * 128 + k.charCodeAt(0);
  const bucket = KEYWORD_BUCKETS.get(key);
  if (bucket === undefined) KEYWORD_BUCKETS.set(key, [k]);
  else bucket.push(k);
}

/** The keyword `sql[start, end)` spells in any case, or null. */
function keywordIn(sql: string, start: number, end: number): string | null {
  let c = sql.charCodeAt(start);
  if (c >= 97 && c <= 122) c -= 32;
  const bucket = KEYWORD_BUCKETS.get((end - start) * 128 + c);
  if (bucket === undefined) return null;
  for (const k of bucket) if (keywordAt(sql, start, end, k)) return k;
  return null;
}

/**
 * Keywords that stay keywords right before `(`. Any other word directly followed by `(` is a function name and kept
 * as written: `format(…)`, `replace(…)`, `left(…)` are functions, and not all function names are case-insensitive.
 */
const BEFORE_PAREN_KEYWORDS: ReadonlySet<string> = new Set([
  'IN', 'VALUES', 'EXISTS', 'USING', 'AS', 'ON', 'FROM', 'JOIN', 'WHERE', 'PREWHERE', 'HAVING', 'AND', 'OR', 'NOT',
  'SELECT', 'WITH', 'INTO', 'TABLE', 'OVER', 'BY', 'WHEN', 'THEN', 'ELSE', 'UNION', 'ALL', 'EXCEPT', 'INTERSECT',
  'DISTINCT', 'LIKE', 'ILIKE', 'IS', 'BETWEEN', 'CASE', 'LIMIT', 'SETTINGS', 'TO', 'VIEW', 'DATABASE', 'FUNCTION',
]);

/** Keywords after which `-1` is still an operand, not the start of a signed literal. */
const OPERAND_KEYWORDS: ReadonlySet<string> = new Set(['END', 'NULL', 'TRUE', 'FALSE']);

/** Literals inside an IN list (and tuples in it) nest at most this deep before the list is left as it is. */
const MAX_TUPLE_DEPTH = 16;

/**
 * The normalized form of `sql`: comments removed, whitespace runs (and comments) become one space, keywords
 * upper-cased, string and number literals (and heredocs) replaced by `?`, an IN list of literals collapsed to `(?)`,
 * INSERT data after VALUES or `FORMAT name` replaced by `?`, trailing semicolons removed. Identifiers, quoted or not,
 * stay as written. Deterministic and idempotent; never throws.
 */
export function normalizeSql(sql: string): string {
  const t = new TokenBuffer(sql);
  let out = '';
  let depth = 0;
  const insert = t.has(0) && t.kind[0] === TokenKind.Word && keywordAt(sql, t.start[0]!, t.end[0]!, 'INSERT');
  for (let i = 0; t.has(i); ) {
    const k = t.kind[i]!;
    if (k === TokenKind.Semicolon) {
      let j = i;
      while (t.has(j) && t.kind[j] === TokenKind.Semicolon) j++;
      if (!t.has(j)) break; // trailing semicolons go
      for (; i < j; i++) out += `${spaceBefore(t, i, out)};`;
      continue;
    }
    out += spaceBefore(t, i, out);
    switch (k) {
      case TokenKind.Word: {
        const kw = t.nextToDot(i) ? null : t.keyword(i, true);
        out += kw ?? t.text(i);
        i++;
        if (insert && depth === 0 && (kw === 'VALUES' || (kw === 'FORMAT' && t.has(i) && t.kind[i] === TokenKind.Word))) {
          if (kw === 'FORMAT') out += (t.gap[i] ? ' ' : '') + t.text(i++); // the format name
          if (t.has(i) && !(t.kind[i] === TokenKind.Semicolon && t.onlySemicolonsFrom(i))) out += ' ?'; // inline data is not SQL
          return out;
        }
        if (kw === 'IN' && t.has(i) && t.kind[i] === TokenKind.LParen) {
          const end = literalListEnd(t, i, 0);
          if (end > 0) {
            out += `${t.gap[i] ? ' ' : ''}(?)`;
            i = end;
          }
        }
        break;
      }
      case TokenKind.Number:
        // x.1 is tuple element access, not a literal; a lone `.` at the very start lexes as a number (Lexer.cpp).
        if (isTupleIndex(t, i) || t.text(i) === '.') {
          out += t.text(i++);
        } else {
          out += '?';
          i = afterLiteral(t, i + 1);
        }
        break;
      case TokenKind.String:
      case TokenKind.HereDoc:
        out += '?';
        i = afterLiteral(t, i + 1);
        break;
      case TokenKind.Operator:
        if (isSign(t, i) && t.has(i + 1) && t.kind[i + 1] === TokenKind.Number && signIsUnary(t, i)) {
          out += '?';
          i = afterLiteral(t, i + 2);
        } else {
          out += t.text(i++);
        }
        break;
      case TokenKind.Error:
        if (t.error[i] === 'unterminated_string' || t.error[i] === 'bad_number') {
          out += '?';
          i = afterLiteral(t, i + 1);
        } else {
          // An unterminated quoted identifier runs to the end of the input: its trailing whitespace is not a name.
          out += t.text(i++).trimEnd();
        }
        break;
      default:
        if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) depth++;
        else if (k === TokenKind.RParen || k === TokenKind.RBracket || k === TokenKind.RBrace) depth--;
        out += t.text(i++);
        break;
    }
  }
  return out;
}

/** One space where whitespace or comments preceded token `i`, except at the start. */
function spaceBefore(t: TokenBuffer, i: number, out: string): string {
  if (out.length === 0 || !t.gap[i]) return '';
  // A space after a stray `#` would make it a comment on a second pass (Lexer.cpp: `# ` starts one).
  return t.kind[i - 1] === TokenKind.Error && t.text(i - 1) === '#' ? '' : ' ';
}

/**
 * `t.1`, `(a, b).2`, `x.1.1`: an index after a dot that follows a name, a closing bracket or another index stays as
 * written. (A number before the dot is always an index here: a literal swallows the `.N` after it, afterLiteral.)
 */
function isTupleIndex(t: TokenBuffer, i: number): boolean {
  if (i < 1 || !t.isDot(i - 1)) return false;
  if (i < 2) return t.kind[i - 1] === TokenKind.Number; // `.1` after a leading lone dot
  const p = t.kind[i - 2];
  return p === TokenKind.Word || p === TokenKind.QuotedIdentifier || p === TokenKind.RParen || p === TokenKind.RBracket ||
    p === TokenKind.Number;
}

/**
 * The index after a literal that ended at `j`, past any `.N` (tuple access on a literal, `'ab'.1`, or `1e5.5`, which
 * lexes as a number, a dot and a number). Folding them into the `?` keeps the result idempotent: after `?` the
 * lexer would read `.5` as a new number.
 */
function afterLiteral(t: TokenBuffer, j: number): number {
  while (t.has(j + 1) && t.kind[j] === TokenKind.Dot && (t.kind[j + 1] === TokenKind.Number || startsWithDigit(t, j + 1))) {
    j += 2;
  }
  return j;
}

function startsWithDigit(t: TokenBuffer, i: number): boolean {
  const c = t.sql.charCodeAt(t.start[i]!);
  return t.kind[i] === TokenKind.Word && c >= 48 && c <= 57;
}

function isSign(t: TokenBuffer, i: number): boolean {
  return t.end[i]! - t.start[i]! === 1 && (t.sql.charCodeAt(t.start[i]!) === 45 || t.sql.charCodeAt(t.start[i]!) === 43); // - +
}

/** A sign is unary at the start, after an operator, an opening bracket, a comma, or a keyword that is no operand. */
function signIsUnary(t: TokenBuffer, i: number): boolean {
  if (i === 0) return true;
  const p = t.kind[i - 1]!;
  if (p === TokenKind.Operator) return !(t.end[i - 1]! - t.start[i - 1]! === 1 && t.sql.charCodeAt(t.start[i - 1]!) === 63); // ? is an operand
  if (p === TokenKind.LParen || p === TokenKind.LBracket || p === TokenKind.LBrace || p === TokenKind.Comma) return true;
  if (p === TokenKind.Word && !t.nextToDot(i - 1)) {
    const kw = t.keyword(i - 1);
    return kw !== null && !OPERAND_KEYWORDS.has(kw);
  }
  return false;
}

/**
 * If a non-empty list of literals (signed numbers, strings, NULL, TRUE, FALSE, `?`, and tuples of these) starts with
 * the `(` at `i`, the index after its `)`; else -1.
 */
function literalListEnd(t: TokenBuffer, i: number, nesting: number): number {
  if (nesting > MAX_TUPLE_DEPTH) return -1;
  let j = i + 1;
  for (;;) {
    j = literalEnd(t, j, nesting);
    if (j < 0 || !t.has(j)) return -1;
    if (t.kind[j] === TokenKind.RParen) return j + 1;
    if (t.kind[j] !== TokenKind.Comma) return -1;
    j++;
  }
}

function literalEnd(t: TokenBuffer, j: number, nesting: number): number {
  if (!t.has(j)) return -1;
  switch (t.kind[j]) {
    case TokenKind.Number:
    case TokenKind.String:
    case TokenKind.HereDoc:
      return j + 1;
    case TokenKind.Operator:
      if (t.end[j]! - t.start[j]! === 1 && t.sql.charCodeAt(t.start[j]!) === 63) return j + 1; // ?
      return isSign(t, j) && t.has(j + 1) && t.kind[j + 1] === TokenKind.Number ? j + 2 : -1;
    case TokenKind.Word: {
      const kw = t.keyword(j);
      return kw === 'NULL' || kw === 'TRUE' || kw === 'FALSE' ? j + 1 : -1;
    }
    case TokenKind.LParen:
      return literalListEnd(t, j, nesting + 1);
    default:
      return -1;
  }
}

/**
 * The significant tokens of `sql`, lexed lazily (INSERT data after VALUES is never lexed past its first token),
 * each with whether whitespace or a comment came before it.
 */
class TokenBuffer {
  readonly kind: TokenKind[] = [];
  readonly start: number[] = [];
  readonly end: number[] = [];
  readonly gap: boolean[] = [];
  readonly error: (LexErrorReason | null)[] = [];
  private readonly lexer: Lexer;
  private done = false;

  constructor(readonly sql: string) {
    this.lexer = new Lexer(sql);
  }

  /** Is there a token `i`? Lexes up to it. */
  has(i: number): boolean {
    while (this.kind.length <= i && !this.done) this.lexOne();
    return i < this.kind.length;
  }

  text(i: number): string {
    return this.sql.slice(this.start[i], this.end[i]);
  }

  /**
   * The upper-cased word when token `i` is a keyword, else null. With `asWritten`, a word directly followed by `(`
   * counts only if it is one of BEFORE_PAREN_KEYWORDS (else it names a function).
   */
  keyword(i: number, asWritten = false): string | null {
    const upper = keywordIn(this.sql, this.start[i]!, this.end[i]!);
    if (upper === null) return null;
    if (asWritten && this.has(i + 1) && this.kind[i + 1] === TokenKind.LParen && !this.gap[i + 1]) {
      return BEFORE_PAREN_KEYWORDS.has(upper) ? upper : null;
    }
    return upper;
  }

  /** Is token `i` (a word) qualified or a qualifier: `db.t`, `t.col`? Then it is a name, never a keyword. */
  nextToDot(i: number): boolean {
    return (i > 0 && this.isDot(i - 1)) || (this.has(i + 1) && this.kind[i + 1] === TokenKind.Dot);
  }

  /** A dot, or the lone `.` the lexer reads as a number at the very start of the input. */
  isDot(i: number): boolean {
    const k = this.kind[i];
    return k === TokenKind.Dot || (k === TokenKind.Number && this.end[i]! - this.start[i]! === 1 && this.sql.charCodeAt(this.start[i]!) === 46);
  }

  /** True when tokens i, i+1, … to the end are all semicolons (only called once, on INSERT data). */
  onlySemicolonsFrom(i: number): boolean {
    for (let j = i; this.has(j); j++) if (this.kind[j] !== TokenKind.Semicolon) return false;
    return true;
  }

  private lexOne(): void {
    const lx = this.lexer;
    let gap = false;
    for (;;) {
      const k = lx.next();
      if (k === TokenKind.Eof) {
        this.done = true;
        return;
      }
      // An unterminated comment runs to the end: it is still a comment.
      if (k === TokenKind.Whitespace || k === TokenKind.Comment || lx.error === 'unterminated_comment') {
        gap = true;
        continue;
      }
      this.kind.push(k);
      this.start.push(lx.start);
      this.end.push(lx.end);
      this.gap.push(gap);
      this.error.push(lx.error);
      return;
    }
  }
}
