/**
 * A tokenizer for ClickHouse SQL, modelled on the server's own lexer (ClickHouse src/Parsers/Lexer.cpp) so that
 * comments, strings, quoted identifiers and heredocs are recognised exactly where the server recognises them.
 *
 * It never throws and runs in linear time: malformed input (an unterminated string or comment, a stray character)
 * becomes an `error` token with a reason, and lexing goes on. The `Lexer` cursor allocates nothing per token;
 * `tokenize` / `tokens` build token objects for convenience.
 */

/** Token kinds (`as const`, no enum). */
export const TokenKind = {
  Word: 'word', // bare word: keyword or identifier, [A-Za-z_$][A-Za-z0-9_$]* (also `1abc`, as in Lexer.cpp)
  QuotedIdentifier: 'quoted_identifier', // "x" or `x`
  String: 'string', // 'x', also x'4142' and b'0101'
  Number: 'number',
  HereDoc: 'heredoc', // $tag$ … $tag$
  LParen: 'lparen',
  RParen: 'rparen',
  LBracket: 'lbracket',
  RBracket: 'rbracket',
  LBrace: 'lbrace',
  RBrace: 'rbrace',
  Comma: 'comma',
  Semicolon: 'semicolon',
  Dot: 'dot',
  Operator: 'operator', // + - * / % = == != <> < <= > >= ? : :: || | @ @@ -> $ \G
  Whitespace: 'whitespace',
  Comment: 'comment',
  Error: 'error',
  Eof: 'eof',
} as const;
export type TokenKind = (typeof TokenKind)[keyof typeof TokenKind];

/** Why a token is an `error` token. */
export type LexErrorReason =
  | 'unterminated_string'
  | 'unterminated_quoted_identifier'
  | 'unterminated_comment'
  | 'bad_number'
  | 'unexpected_character';

/** One token with its text; `start`/`end` are UTF-16 offsets into the input. */
export interface Token {
  kind: TokenKind;
  start: number;
  end: number;
  text: string;
  error?: LexErrorReason;
}

// Character codes used below.
const C = {
  TAB: 9, LF: 10, VT: 11, FF: 12, CR: 13, SPACE: 32, BANG: 33, DQUOTE: 34, HASH: 35, DOLLAR: 36, PERCENT: 37,
  SQUOTE: 39, LPAREN: 40, RPAREN: 41, STAR: 42, PLUS: 43, COMMA: 44, MINUS: 45, DOT: 46, SLASH: 47, D0: 48, D1: 49,
  D9: 57, COLON: 58, SEMI: 59, LT: 60, EQ: 61, GT: 62, QUESTION: 63, AT: 64, LBRACKET: 91, BACKSLASH: 92,
  RBRACKET: 93, BACKTICK: 96, LBRACE: 123, PIPE: 124, RBRACE: 125, UNDERSCORE: 95,
} as const;

const isDigit = (c: number): boolean => c >= C.D0 && c <= C.D9;
const isHexDigit = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
/** 1 for isWordCharASCII in ClickHouse ([A-Za-z0-9_]), 2 for `$` (allowed inside bare words). */
const WORD_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9_]/.test(ch)) WORD_CLASS[c] = 1;
}
WORD_CLASS[C.DOLLAR] = 2;
const isWordChar = (c: number): boolean => c < 128 && WORD_CLASS[c] === 1;
const isWordOrDollar = (c: number): boolean => c < 128 && WORD_CLASS[c] !== 0;
const isAsciiSpace = (c: number): boolean => c === C.SPACE || (c >= C.TAB && c <= C.CR);
/** Unicode spaces the server skips too (skipWhitespacesUTF8, for queries pasted from word processors). */
const isUnicodeSpace = (c: number): boolean =>
  c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
  c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;

/**
 * Zero-allocation cursor: `next()` lexes one token (trivia included) and exposes it as `kind`/`start`/`end`;
 * `nextSignificant()` skips whitespace and comments. After the end it keeps returning `eof`.
 */
export class Lexer {
  kind: TokenKind = TokenKind.Eof;
  start = 0;
  end = 0;
  error: LexErrorReason | null = null;
  private pos: number;
  private prevSignificant: TokenKind = TokenKind.Eof;
  /** $tag$ → ascending offsets where it occurs; built on first use so heredoc search stays linear. */
  private heredocs: Map<string, { at: number[]; next: number }> | null = null;

  constructor(readonly sql: string, from = 0) {
    this.pos = from;
  }

  /** Offset where the next token starts. */
  get offset(): number {
    return this.pos;
  }

  /** Lexes the next significant token (skips whitespace and comments). */
  nextSignificant(): TokenKind {
    let k = this.next();
    while (k === TokenKind.Whitespace || k === TokenKind.Comment) k = this.next();
    return k;
  }

  /** Lexes the next token, trivia included. */
  next(): TokenKind {
    const k = this.lex();
    if (k !== TokenKind.Whitespace && k !== TokenKind.Comment) this.prevSignificant = k;
    return k;
  }

  /** Current token's text upper-cased (only call for words; allocates). */
  upper(): string {
    return this.sql.slice(this.start, this.end).toUpperCase();
  }

  private emit(kind: TokenKind, start: number, end: number, error: LexErrorReason | null = null): TokenKind {
    this.kind = kind;
    this.start = start;
    this.end = end;
    this.error = error;
    this.pos = end;
    return kind;
  }

  private lex(): TokenKind {
    const s = this.sql;
    const n = s.length;
    const b = this.pos;
    if (b >= n) return this.emit(TokenKind.Eof, n, n);
    const c = s.charCodeAt(b);

    if (isAsciiSpace(c) || isUnicodeSpace(c)) {
      let p = b + 1;
      while (p < n) {
        const d = s.charCodeAt(p);
        if (!isAsciiSpace(d) && !isUnicodeSpace(d)) break;
        p++;
      }
      return this.emit(TokenKind.Whitespace, b, p);
    }
    if (isDigit(c)) return this.number(b);

    switch (c) {
      case C.SQUOTE:
        return this.quoted(b, C.SQUOTE, TokenKind.String, 'unterminated_string');
      case C.DQUOTE:
      case C.BACKTICK:
        return this.quoted(b, c, TokenKind.QuotedIdentifier, 'unterminated_quoted_identifier');
      case C.LPAREN: return this.emit(TokenKind.LParen, b, b + 1);
      case C.RPAREN: return this.emit(TokenKind.RParen, b, b + 1);
      case C.LBRACKET: return this.emit(TokenKind.LBracket, b, b + 1);
      case C.RBRACKET: return this.emit(TokenKind.RBracket, b, b + 1);
      case C.LBRACE: return this.emit(TokenKind.LBrace, b, b + 1);
      case C.RBRACE: return this.emit(TokenKind.RBrace, b, b + 1);
      case C.COMMA: return this.emit(TokenKind.Comma, b, b + 1);
      case C.SEMI: return this.emit(TokenKind.Semicolon, b, b + 1);
      case C.DOT: {
        // A dot is a qualifier / tuple access unless it starts a number like `.5` (Lexer.cpp, case '.'). One
        // deliberate difference: Lexer.cpp lexes a dot at the very start of the text as a number even before a
        // non-digit (`.END` → `.E`, `ND`), while the same dot after a space is a Dot; both are syntax errors to the
        // server, and lexing them alike keeps normalizeSql idempotent (it trims the leading space).
        const p = this.prevSignificant;
        const digitNext = b + 1 < n && isDigit(s.charCodeAt(b + 1));
        if (!digitNext || (b > 0 && (p === TokenKind.RParen || p === TokenKind.RBracket || p === TokenKind.Word ||
            p === TokenKind.QuotedIdentifier || p === TokenKind.Number))) {
          return this.emit(TokenKind.Dot, b, b + 1);
        }
        let q = this.digits(b + 1);
        q = this.exponent(q, false);
        return this.emit(TokenKind.Number, b, q);
      }
      case C.MINUS: {
        const d = s.charCodeAt(b + 1);
        if (d === C.GT) return this.emit(TokenKind.Operator, b, b + 2);
        if (d === C.MINUS) return this.lineComment(b, b + 2);
        return this.emit(TokenKind.Operator, b, b + 1);
      }
      case C.SLASH: {
        const d = s.charCodeAt(b + 1);
        if (d === C.SLASH) return this.lineComment(b, b + 2);
        if (d === C.STAR) return this.blockComment(b);
        return this.emit(TokenKind.Operator, b, b + 1);
      }
      case C.HASH: {
        // `#` starts a comment only before a space or `!` (shebang); `#x` is an error (Lexer.cpp, case '#').
        const d = s.charCodeAt(b + 1);
        if (d === C.SPACE || d === C.BANG) return this.lineComment(b, b + 2);
        return this.emit(TokenKind.Error, b, b + 1, 'unexpected_character');
      }
      case C.PLUS: case C.STAR: case C.PERCENT: case C.QUESTION:
        return this.emit(TokenKind.Operator, b, b + 1);
      case C.EQ: return this.twoChar(b, C.EQ);
      case C.BANG:
        if (s.charCodeAt(b + 1) === C.EQ) return this.emit(TokenKind.Operator, b, b + 2);
        return this.emit(TokenKind.Error, b, b + 1, 'unexpected_character');
      case C.LT: {
        const d = s.charCodeAt(b + 1);
        return this.emit(TokenKind.Operator, b, d === C.EQ || d === C.GT ? b + 2 : b + 1);
      }
      case C.GT: return this.twoChar(b, C.EQ);
      case C.COLON: return this.twoChar(b, C.COLON);
      case C.PIPE: return this.twoChar(b, C.PIPE);
      case C.AT: return this.twoChar(b, C.AT);
      case C.BACKSLASH:
        if (s.charCodeAt(b + 1) === 71 /* G */) return this.emit(TokenKind.Operator, b, b + 2);
        return this.emit(TokenKind.Error, b, b + 1, 'unexpected_character');
      default:
        break;
    }

    if (c === C.DOLLAR) {
      const h = this.heredocEnd(b);
      if (h > 0) return this.emit(TokenKind.HereDoc, b, h);
      if (b + 1 >= n || !isWordChar(s.charCodeAt(b + 1))) return this.emit(TokenKind.Operator, b, b + 1);
    }
    // x'4142' and b'0101' (quotedHexOrBinString in Lexer.cpp).
    if ((c === 120 || c === 88 || c === 98 || c === 66) && b + 2 < n && s.charCodeAt(b + 1) === C.SQUOTE) {
      const hex = c === 120 || c === 88;
      let p = b + 2;
      while (p < n && (hex ? isHexDigit(s.charCodeAt(p)) : (s.charCodeAt(p) === C.D0 || s.charCodeAt(p) === C.D1))) p++;
      if (p < n && s.charCodeAt(p) === C.SQUOTE) return this.emit(TokenKind.String, b, p + 1);
      return this.emit(TokenKind.Error, b, n, 'unterminated_string');
    }
    if (isWordChar(c) || c === C.DOLLAR) {
      let p = b + 1;
      while (p < n && isWordOrDollar(s.charCodeAt(p))) p++;
      return this.emit(TokenKind.Word, b, p);
    }
    // Anything else (non-ASCII letters, control characters): the server rejects it outside quotes.
    let p = b + 1;
    if (c >= 0xd800 && c <= 0xdbff && p < n) p++; // keep surrogate pairs whole
    return this.emit(TokenKind.Error, b, p, 'unexpected_character');
  }

  /** One-character operator, or two characters when `second` follows (==, >=, ::, ||, @@). */
  private twoChar(b: number, second: number): TokenKind {
    return this.emit(TokenKind.Operator, b, this.sql.charCodeAt(b + 1) === second ? b + 2 : b + 1);
  }

  /** A newline cannot be escaped inside a line comment (Lexer.cpp comment_until_end_of_line). */
  private lineComment(b: number, from: number): TokenKind {
    const nl = this.sql.indexOf('\n', from);
    return this.emit(TokenKind.Comment, b, nl < 0 ? this.sql.length : nl);
  }

  /** Block comments nest, as in the SQL standard and Lexer.cpp. */
  private blockComment(b: number): TokenKind {
    const s = this.sql;
    const n = s.length;
    let depth = 1;
    let p = b + 2;
    while (p + 1 < n) {
      const c = s.charCodeAt(p);
      if (c === C.SLASH && s.charCodeAt(p + 1) === C.STAR) {
        depth++;
        p += 2;
      } else if (c === C.STAR && s.charCodeAt(p + 1) === C.SLASH) {
        p += 2;
        if (--depth === 0) return this.emit(TokenKind.Comment, b, p);
      } else {
        p++;
      }
    }
    return this.emit(TokenKind.Error, b, n, 'unterminated_comment');
  }

  /** Quoted string or identifier: backslash escapes and a doubled quote (quotedString in Lexer.cpp). */
  private quoted(b: number, quote: number, kind: TokenKind, reason: LexErrorReason): TokenKind {
    const s = this.sql;
    const n = s.length;
    let p = b + 1;
    while (p < n) {
      const c = s.charCodeAt(p);
      if (c === quote) {
        if (p + 1 < n && s.charCodeAt(p + 1) === quote) {
          p += 2;
          continue;
        }
        return this.emit(kind, b, p + 1);
      }
      p += c === C.BACKSLASH ? 2 : 1;
    }
    return this.emit(TokenKind.Error, b, n, reason);
  }

  private digits(p: number): number {
    const s = this.sql;
    while (p < s.length && (isDigit(s.charCodeAt(p)) || s.charCodeAt(p) === C.UNDERSCORE)) p++;
    return p;
  }

  private exponent(p: number, hex: boolean): number {
    const s = this.sql;
    const n = s.length;
    const c = s.charCodeAt(p);
    if (p + 1 < n && (hex ? c === 112 || c === 80 : c === 101 || c === 69)) {
      p++;
      const sign = s.charCodeAt(p);
      if (p + 1 < n && (sign === C.MINUS || sign === C.PLUS)) p++;
      p = this.digits(p);
    }
    return p;
  }

  /** Numbers: 1, 1_000, 1.5, 1e-3, 0x1F, 0b101, 0x1p4; `1abc` is a word (Lexer.cpp, case '0'…'9'). */
  private number(b: number): TokenKind {
    const s = this.sql;
    const n = s.length;
    let p: number;
    if (this.prevSignificant === TokenKind.Dot) {
      p = this.digits(b + 1); // x.1.1 is tuple access: integers only after a dot
    } else {
      const x = s.charCodeAt(b + 1);
      const third = b + 2 < n ? s.charCodeAt(b + 2) : -1;
      const hex = s.charCodeAt(b) === C.D0 && (x === 120 || x === 88) && isHexDigit(third);
      const bin = s.charCodeAt(b) === C.D0 && (x === 98 || x === 66) && (third === C.D0 || third === C.D1);
      if (hex || bin) {
        p = b + 2;
        while (p < n && (isHexDigit(s.charCodeAt(p)) || s.charCodeAt(p) === C.UNDERSCORE)) p++;
      } else {
        p = this.digits(b + 1);
      }
      if (p < n && s.charCodeAt(p) === C.DOT) {
        p++;
        while (p < n && (hex ? isHexDigit(s.charCodeAt(p)) : isDigit(s.charCodeAt(p)))) p++;
      }
      p = this.exponent(p, hex);
    }
    if (p < n && isWordChar(s.charCodeAt(p))) {
      let q = p + 1;
      while (q < n && isWordChar(s.charCodeAt(q))) q++;
      for (let i = b; i < q; i++) {
        if (!isWordChar(s.charCodeAt(i))) return this.emit(TokenKind.Error, b, q, 'bad_number');
      }
      return this.emit(TokenKind.Word, b, q);
    }
    return this.emit(TokenKind.Number, b, p);
  }

  /**
   * `$tag$ … $tag$` heredoc (Lexer.cpp, default case). Returns its end, or 0 when `b` does not start one.
   * The server accepts any characters between the two dollars of the tag; we accept word characters only, which
   * lets one pass index every possible closing tag and keeps the search linear.
   */
  private heredocEnd(b: number): number {
    const s = this.sql;
    const tagEnd = this.tagEndAt(b);
    if (tagEnd < 0) return 0;
    if (this.heredocs === null) this.heredocs = this.indexTags();
    const entry = this.heredocs.get(s.slice(b, tagEnd));
    if (entry === undefined) return 0;
    const len = tagEnd - b;
    while (entry.next < entry.at.length && entry.at[entry.next] < tagEnd) entry.next++;
    return entry.next < entry.at.length ? entry.at[entry.next] + len : 0;
  }

  /** If `$word*$` starts at `b`, the offset after its closing dollar, else -1. */
  private tagEndAt(b: number): number {
    const s = this.sql;
    let p = b + 1;
    while (p < s.length && isWordChar(s.charCodeAt(p))) p++;
    return p < s.length && s.charCodeAt(p) === C.DOLLAR ? p + 1 : -1;
  }

  private indexTags(): Map<string, { at: number[]; next: number }> {
    const s = this.sql;
    const map = new Map<string, { at: number[]; next: number }>();
    for (let p = s.indexOf('$'); p >= 0; p = s.indexOf('$', p + 1)) {
      const e = this.tagEndAt(p);
      if (e < 0) continue;
      const tag = s.slice(p, e);
      const entry = map.get(tag);
      if (entry === undefined) map.set(tag, { at: [p], next: 0 });
      else entry.at.push(p);
    }
    return map;
  }
}

/** Options for `tokenize` / `tokens`. */
export interface TokenizeOptions {
  /** Include whitespace and comment tokens (default false). */
  trivia?: boolean;
}

/** Iterates over the tokens of `sql` (without the final `eof`). */
export function* tokens(sql: string, options: TokenizeOptions = {}): IterableIterator<Token> {
  const lx = new Lexer(sql);
  for (;;) {
    const k = options.trivia === true ? lx.next() : lx.nextSignificant();
    if (k === TokenKind.Eof) return;
    const t: Token = { kind: k, start: lx.start, end: lx.end, text: sql.slice(lx.start, lx.end) };
    if (lx.error !== null) t.error = lx.error;
    yield t;
  }
}

/** All tokens of `sql` (without the final `eof`); never throws. */
export function tokenize(sql: string, options: TokenizeOptions = {}): Token[] {
  return Array.from(tokens(sql, options));
}

/** Case-insensitive comparison of `sql[start, end)` with an upper-case ASCII keyword, without allocating. */
export function keywordAt(sql: string, start: number, end: number, keyword: string): boolean {
  if (end - start !== keyword.length) return false;
  for (let i = 0; i < keyword.length; i++) {
    let c = sql.charCodeAt(start + i);
    if (c >= 97 && c <= 122) c -= 32;
    if (c !== keyword.charCodeAt(i)) return false;
  }
  return true;
}
