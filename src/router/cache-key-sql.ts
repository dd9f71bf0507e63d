/**
 * The SQL part of a result-cache key (issue 5: "comments and insignificant whitespace removed; literals and case
 * inside them kept"). Unlike normalizeSql (normalize.ts, a fingerprint that replaces literals by `?`), two texts
 * normalize alike here only when the server would parse them alike, so a shared key never means a wrong answer.
 */
import { Lexer, TokenKind, keywordAt } from './lexer';
import { normalizeSql } from './normalize';

const OPEN: ReadonlySet<TokenKind> = new Set<TokenKind>([TokenKind.LParen, TokenKind.LBracket, TokenKind.LBrace]);
const CLOSE: ReadonlySet<TokenKind> = new Set<TokenKind>([TokenKind.RParen, TokenKind.RBracket, TokenKind.RBrace]);

/**
 * The separator before token `k` after `prev`. Brackets and commas are tokens by themselves whatever surrounds them
 * (Lexer.cpp), and the server's parser skips whitespace between tokens, so spacing next to them is made canonical:
 * none after an opening bracket and before a bracket or comma, one after a comma or closing bracket. Elsewhere the
 * written gap decides (one space or none): `a - -1` must not become `a--1`, a comment.
 */
function separator(prev: TokenKind, k: TokenKind, gap: boolean): string {
  if (OPEN.has(prev) || OPEN.has(k) || CLOSE.has(k) || k === TokenKind.Comma) return '';
  if (prev === TokenKind.Comma || CLOSE.has(prev)) return ' ';
  return gap ? ' ' : '';
}

/**
 * The cache-key form of `sql`: comments removed; whitespace runs become one space, spacing next to brackets and
 * commas made canonical (see separator); keywords upper-cased (the same words normalizeSql upper-cases, with the same
 * rule for `word(`), except a word after AS (an alias names a result column, whose case the client sees);
 * trailing semicolons removed. Literals, identifiers and function names stay exactly as written, and so does the
 * inline data of an INSERT after VALUES / FORMAT name. Never throws; idempotent; linear time.
 */
export function normalizeForCacheKey(sql: string): string {
  const t = new Lookahead(sql);
  let out = '';
  let semicolons = ''; // kept only if something other than semicolons follows
  let prev: TokenKind = TokenKind.Eof;
  let prevStrayHash = false;
  let prevAs = false;
  let prevFormat = false; // the previous token is a top-level FORMAT of an INSERT
  let insert = false;
  let depth = 0;
  while (t.kind !== TokenKind.Eof) {
    const { kind: k, start, end } = t;
    const gap = t.gap;
    t.advance();
    if (k === TokenKind.Semicolon) {
      semicolons += ';';
      prev = k;
      continue;
    }
    let text = sql.slice(start, end);
    if (k === TokenKind.Word && prev !== TokenKind.Dot && t.kind !== TokenKind.Dot && !prevAs) {
      text = keywordForm(text, t.kind === TokenKind.LParen);
    }
    if (out.length > 0) {
      // A space after a stray `#` would make it a comment on a second pass (Lexer.cpp: `# ` starts one).
      out += semicolons.length > 0 ? `${semicolons} ` : prevStrayHash ? '' : separator(prev, k, gap);
    }
    semicolons = '';
    out += text;
    if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) depth++;
    else if (k === TokenKind.RParen || k === TokenKind.RBracket || k === TokenKind.RBrace) depth--;
    const word = k === TokenKind.Word;
    if (prev === TokenKind.Eof && word && keywordAt(sql, start, end, 'INSERT')) insert = true;
    // Inline data after VALUES or FORMAT name is not SQL: it stays byte for byte (ParserInsertQuery.cpp).
    if (insert && depth === 0 && word && (prevFormat || keywordAt(sql, start, end, 'VALUES'))) return out + sql.slice(end);
    prevFormat = insert && depth === 0 && word && keywordAt(sql, start, end, 'FORMAT');
    prevStrayHash = k === TokenKind.Error && end - start === 1 && sql.charCodeAt(start) === 35; // #
    prevAs = word && keywordAt(sql, start, end, 'AS');
    prev = k;
  }
  return out;
}

/** The current significant token and whether whitespace or a comment (even unterminated) came before it. */
class Lookahead {
  kind: TokenKind = TokenKind.Eof;
  start = 0;
  end = 0;
  gap = false;
  private readonly lx: Lexer;

  constructor(sql: string) {
    this.lx = new Lexer(sql);
    this.advance();
  }

  advance(): void {
    const lx = this.lx;
    this.gap = false;
    for (;;) {
      const k = lx.next();
      if (k === TokenKind.Whitespace || k === TokenKind.Comment || lx.error === 'unterminated_comment') {
        this.gap = true;
        continue;
      }
      this.kind = k;
      this.start = lx.start;
      this.end = lx.end;
      return;
    }
  }
}

/** Words probed so far → their keyword form; bounded, as the words come from clients. */
const probed = new Map<string, string>();
const MAX_PROBED = 4096;

/**
 * `word` upper-cased when normalizeSql treats it as a keyword (before `(` when `beforeParen`), else as written.
 * Probing normalizeSql keeps the keyword list in one place (normalize.ts).
 */
function keywordForm(word: string, beforeParen: boolean): string {
  const key = beforeParen ? `${word}(` : word;
  let form = probed.get(key);
  if (form === undefined) {
    const n = normalizeSql(key);
    const upper = word.toUpperCase();
    form = n === (beforeParen ? `${upper}(` : upper) ? upper : word;
    if (probed.size >= MAX_PROBED) probed.clear();
    probed.set(key, form);
  }
  return form;
}
