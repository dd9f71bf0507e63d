import { TokenKind } from './lexer';
import { TokenCursor } from './token-cursor';

/** What the proxy must know about an INSERT. */
export interface InsertInfo {
  /** Target table (unquoted), null for INSERT INTO FUNCTION or when it cannot be read. */
  table: string | null;
  database: string | null;
  /**
   * Does the server wait for Data blocks from the client after the Query? True for `… VALUES` and
   * `… FORMAT fmt` with nothing after them, for FROM INFILE, and for INSERT … SELECT … FROM input() FORMAT fmt
   * (native-protocol.md §9.2). When unsure (a statement the server will reject) this is true: expecting data that
   * never comes is resolved by the server's Exception, while not expecting data the server waits for would hang.
   */
  expectsData: boolean;
  /** Input format: the FORMAT name, 'Values' for VALUES, null when neither is given. */
  format: string | null;
  /** INSERT … SELECT (or WITH … SELECT). */
  select: boolean;
}

/**
 * Reads an INSERT whose INSERT keyword is token `i`, following ClickHouse src/Parsers/ParserInsertQuery.cpp:
 * INSERT INTO [TABLE] {[db.]table | FUNCTION f(…)} [(columns)] [SETTINGS …] {VALUES | FORMAT fmt [SETTINGS …] |
 * FROM INFILE … | SELECT … | WITH … | WATCH …}. Inline data after VALUES / FORMAT fmt is never lexed beyond its
 * first token.
 */
export function classifyInsert(c: TokenCursor, i: number): InsertInfo {
  const info: InsertInfo = { table: null, database: null, expectsData: true, format: null, select: false };
  let j = i + 1;
  if (c.is(j, 'INTO')) j++;
  if (c.is(j, 'TABLE')) j++;
  if (c.is(j, 'FUNCTION')) {
    j++;
    if (c.identifier(j) !== null) j++;
    if (c.kind(j) === TokenKind.LParen) j = c.skipGroup(j);
  } else {
    const name = c.identifier(j);
    if (name !== null) {
      j++;
      const second = c.kind(j) === TokenKind.Dot ? c.identifier(j + 1) : null;
      if (second !== null) {
        info.database = name;
        info.table = second;
        j += 2;
      } else {
        info.table = name;
      }
    }
  }

  for (;;) {
    const k = c.kind(j);
    if (k === TokenKind.Eof || k === TokenKind.Error || k === TokenKind.Semicolon) return info;
    if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) {
      j = c.skipGroup(j); // column list, PARTITION BY (…) of INSERT INTO FUNCTION
      continue;
    }
    const w = c.word(j);
    if (w === 'VALUES') {
      // Data starts at the next token: whitespace and comments do not count (ParserInsertQuery: data = pos->begin).
      info.format = 'Values';
      info.expectsData = c.onlyTrailingAfter(j);
      return info;
    }
    if (w === 'FORMAT') return formatClause(c, j, info);
    if (w === 'SELECT' || w === 'WITH') {
      info.select = true;
      return selectTail(c, j, info);
    }
    if (w === 'WATCH') {
      info.expectsData = false;
      return info;
    }
    if (w === 'FROM' && c.is(j + 1, 'INFILE')) {
      // clickhouse-client reads the file and sends it as Data blocks.
      for (let n = j + 2; c.kind(n) !== TokenKind.Eof; n++) {
        if (c.is(n, 'FORMAT')) info.format = c.identifier(n + 1);
      }
      return info;
    }
    if (w === 'SETTINGS') {
      j = skipSettings(c, j + 1);
      continue;
    }
    j++;
  }
}

/** FORMAT fmt [SETTINGS …] at token `j`; data follows in the raw text (after spaces and one newline). */
function formatClause(c: TokenCursor, j: number, info: InsertInfo): InsertInfo {
  const format = c.identifier(j + 1);
  if (format === null) return info;
  info.format = format;
  let last = j + 1;
  // Older grammar: INSERT … FORMAT fmt SETTINGS a = 1 <data>.
  if (c.is(last + 1, 'SETTINGS') && c.identifier(last + 2) !== null && c.isOp(last + 3, '=')) {
    last = skipSettings(c, last + 2) - 1;
  }
  info.expectsData = blankFrom(c.sql, c.end(last));
  return info;
}

/** INSERT … SELECT: the server waits for data only with a final `FORMAT fmt` and no data (input() function). */
function selectTail(c: TokenCursor, j: number, info: InsertInfo): InsertInfo {
  let depth = 0;
  info.expectsData = false;
  for (let n = j; ; n++) {
    const k = c.kind(n);
    if (k === TokenKind.Eof || k === TokenKind.Error || k === TokenKind.Semicolon) return info;
    if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) depth++;
    else if (k === TokenKind.RParen || k === TokenKind.RBracket || k === TokenKind.RBrace) depth--;
    else if (depth === 0 && c.is(n, 'FORMAT') && c.identifier(n + 1) !== null) {
      info.format = c.identifier(n + 1);
      info.expectsData = blankFrom(c.sql, c.end(n + 1));
      return info;
    }
  }
}

/** Skips `name = value, …` of a SETTINGS clause starting at `j`; returns the index after the last value. */
function skipSettings(c: TokenCursor, j: number): number {
  for (;;) {
    if (c.identifier(j) === null) return j;
    j++;
    while (c.kind(j) === TokenKind.Dot && c.identifier(j + 1) !== null) j += 2;
    if (!c.isOp(j, '=')) return j;
    j++;
    if (c.isOp(j, '-') || c.isOp(j, '+')) j++;
    const k = c.kind(j);
    if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) j = c.skipGroup(j);
    else if (k === TokenKind.Word && c.kind(j + 1) === TokenKind.LParen) j = c.skipGroup(j + 1); // disk(…)
    else if (k !== TokenKind.Eof) j++;
    if (c.kind(j) !== TokenKind.Comma) return j;
    j++;
  }
}

/** Only whitespace or `;` from `from` to the end of the text? */
function blankFrom(sql: string, from: number): boolean {
  for (let p = from; p < sql.length; p++) {
    const ch = sql.charCodeAt(p);
    if (ch !== 32 && ch !== 59 && (ch < 9 || ch > 13)) return false;
  }
  return true;
}
