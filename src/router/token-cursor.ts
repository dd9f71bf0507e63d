import { Lexer, TokenKind, keywordAt } from './lexer';
import { unquote } from './unquote';

/**
 * Random access to the significant tokens (no whitespace or comments) of one statement, lexed lazily: a token is
 * lexed only when asked for. That matters for INSERT, whose inline data (after VALUES or FORMAT name) is not SQL
 * and must never be lexed as such.
 */
export class TokenCursor {
  private readonly lexer: Lexer;
  private readonly kinds: TokenKind[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private done = false;

  constructor(readonly sql: string) {
    this.lexer = new Lexer(sql);
  }

  /** Kind of token `i` (`eof` past the end). */
  kind(i: number): TokenKind {
    return this.fill(i) ? this.kinds[i] : TokenKind.Eof;
  }

  /** Start offset of token `i` (the input length past the end). */
  start(i: number): number {
    return this.fill(i) ? this.starts[i] : this.sql.length;
  }

  /** End offset of token `i` (the input length past the end). */
  end(i: number): number {
    return this.fill(i) ? this.ends[i] : this.sql.length;
  }

  /** Source text of token `i` ('' past the end). */
  text(i: number): string {
    return this.fill(i) ? this.sql.slice(this.starts[i], this.ends[i]) : '';
  }

  /** Is token `i` the bare word `keyword` (upper-case ASCII), case-insensitively? */
  is(i: number, keyword: string): boolean {
    return this.kind(i) === TokenKind.Word && keywordAt(this.sql, this.starts[i], this.ends[i], keyword);
  }

  /** Upper-cased text of token `i` when it is a bare word, else null. */
  word(i: number): string | null {
    return this.kind(i) === TokenKind.Word ? this.text(i).toUpperCase() : null;
  }

  /** The name token `i` stands for: a bare word as written, a quoted identifier unquoted; else null. */
  identifier(i: number): string | null {
    const k = this.kind(i);
    if (k === TokenKind.Word) return this.text(i);
    if (k === TokenKind.QuotedIdentifier) return unquote(this.text(i));
    return null;
  }

  /** Is token `i` the single-token operator `op`? */
  isOp(i: number, op: string): boolean {
    return (
      this.kind(i) === TokenKind.Operator && this.ends[i] - this.starts[i] === op.length && this.sql.startsWith(op, this.starts[i])
    );
  }

  /**
   * Index just after the bracket group opened at `i` ( (…) […] {…} ), or the index of `eof` when it is not closed.
   * Brackets of every kind count towards one depth, which is enough to skip a group.
   */
  skipGroup(i: number): number {
    let depth = 0;
    for (let j = i; ; j++) {
      const k = this.kind(j);
      if (k === TokenKind.Eof) return j;
      if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) depth++;
      else if (k === TokenKind.RParen || k === TokenKind.RBracket || k === TokenKind.RBrace) {
        if (--depth <= 0) return j + 1;
      }
    }
  }

  /**
   * True when nothing but whitespace, comments and semicolons follows token `i` (in the raw text, lexed afresh:
   * the cursor itself is not advanced, so data after `i` is lexed at most up to its first token).
   */
  onlyTrailingAfter(i: number): boolean {
    const lx = new Lexer(this.sql, this.end(i));
    for (;;) {
      const k = lx.nextSignificant();
      if (k === TokenKind.Eof) return true;
      if (k !== TokenKind.Semicolon) return false;
    }
  }

  private fill(i: number): boolean {
    while (this.kinds.length <= i) {
      if (this.done) return false;
      const k = this.lexer.nextSignificant();
      if (k === TokenKind.Eof) {
        this.done = true;
        return false;
      }
      this.kinds.push(k);
      this.starts.push(this.lexer.start);
      this.ends.push(this.lexer.end);
    }
    return true;
  }
}
