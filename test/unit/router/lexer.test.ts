import { Lexer, TokenKind, keywordAt, tokenize, tokens, unquote, type Token } from '../../../src/router';

const kinds = (sql: string): string[] => tokenize(sql).map((t) => t.kind);
const texts = (sql: string): string[] => tokenize(sql).map((t) => t.text);
const one = (sql: string): Token => {
  const all = tokenize(sql);
  expect(all).toHaveLength(1);
  return all[0];
};

describe('lexer: token kinds', () => {
  it('words, case preserved, $ allowed inside', () => {
    expect(texts('SELECT sElEcT _x a$b $x')).toEqual(['SELECT', 'sElEcT', '_x', 'a$b', '$x']);
    expect(kinds('abc _1 Z9')).toEqual(['word', 'word', 'word']);
  });

  it('numbers in their ClickHouse forms', () => {
    for (const n of ['1', '123', '1.5', '1.', '1e10', '1E-3', '2.5e+7', '0x1F', '0Xff', '0b101', '1_000_000', '.5', '0x1p4']) {
      expect(one(`${n}`)).toMatchObject({ kind: 'number', text: n });
    }
    expect(one('1abc')).toMatchObject({ kind: 'word', text: '1abc' }); // Lexer.cpp: identifiers may start with digits
    expect(one('1.5abc')).toMatchObject({ kind: 'error', error: 'bad_number' });
    expect(texts('SELECT 1-2')).toEqual(['SELECT', '1', '-', '2']);
  });

  it('tuple access x.1.1 lexes integers after a dot', () => {
    expect(texts('t.1.2')).toEqual(['t', '.', '1', '.', '2']);
    expect(kinds('a.b')).toEqual(['word', 'dot', 'word']);
  });

  it('single-quoted strings with backslash escapes and doubled quotes', () => {
    expect(one("'abc'").kind).toBe('string');
    expect(one("'it''s'").text).toBe("'it''s'");
    expect(one("'a\\'b'").text).toBe("'a\\'b'");
    expect(one("'a\\\\'").text).toBe("'a\\\\'");
    expect(texts("'x' 'y'")).toEqual(["'x'", "'y'"]);
    expect(one("'-- not a comment /* nor this */'").kind).toBe('string');
  });

  it('hex and binary strings', () => {
    expect(one("x'4142'")).toMatchObject({ kind: 'string' });
    expect(one("B'0101'")).toMatchObject({ kind: 'string' });
    expect(one("x'4G'")).toMatchObject({ kind: 'error', error: 'unterminated_string' });
  });

  it('double- and back-quoted identifiers', () => {
    expect(one('"my col"')).toMatchObject({ kind: 'quoted_identifier' });
    expect(one('`select`')).toMatchObject({ kind: 'quoted_identifier' });
    expect(one('`a``b`').text).toBe('`a``b`');
    expect(one('"a\\"b"').text).toBe('"a\\"b"');
  });

  it('heredocs $$…$$ and $tag$…$tag$', () => {
    expect(one('$$ it\'s -- raw $$')).toMatchObject({ kind: 'heredoc', text: "$$ it's -- raw $$" });
    expect(one('$fn$ a $$ b $fn$')).toMatchObject({ kind: 'heredoc' });
    expect(texts('$$a$$ $$b$$')).toEqual(['$$a$$', '$$b$$']);
    // No closing tag: not a heredoc; a lone $ before a non-word character is an operator.
    expect(kinds('$$ x')).toEqual(['operator', 'operator', 'word']);
    expect(kinds('$a$ x')).toEqual(['word', 'word']);
  });

  it('punctuation', () => {
    expect(kinds('()[]{},;.')).toEqual(['lparen', 'rparen', 'lbracket', 'rbracket', 'lbrace', 'rbrace', 'comma', 'semicolon', 'dot']);
  });

  it('operators, longest match', () => {
    const ops = ['+', '-', '*', '/', '%', '=', '==', '!=', '<>', '<', '<=', '>', '>=', '?', ':', '::', '||', '|', '@', '@@', '->', '\\G'];
    for (const op of ops) expect(one(op)).toMatchObject({ kind: 'operator', text: op });
    expect(texts('a<=>b')).toEqual(['a', '<=', '>', 'b']);
  });

  it('comments: --, //, # followed by space or !, nested /* */', () => {
    expect(texts('SELECT -- c\n1')).toEqual(['SELECT', '1']);
    expect(texts('SELECT // c\n1')).toEqual(['SELECT', '1']);
    expect(texts('# c\nSELECT 1')).toEqual(['SELECT', '1']);
    expect(texts('#!/usr/bin/clickhouse\nSELECT 1')).toEqual(['SELECT', '1']);
    expect(texts('SELECT /* a /* b */ still */ 1')).toEqual(['SELECT', '1']);
    expect(tokenize('#x')[0]).toMatchObject({ kind: 'error', error: 'unexpected_character', text: '#' });
    const trivia = tokenize('a /* c */ -- d', { trivia: true }).map((t) => t.kind);
    expect(trivia).toEqual(['word', 'whitespace', 'comment', 'whitespace', 'comment']);
  });

  it('whitespace includes Unicode spaces the server skips', () => {
    expect(texts('SELECT\u00a01\u3000,\u20292')).toEqual(['SELECT', '1', ',', '2']);
  });
});

describe('lexer: malformed input never throws', () => {
  it.each([
    ["SELECT 'abc", 'unterminated_string'],
    ["'abc\\'", 'unterminated_string'],
    ["'abc\\", 'unterminated_string'],
    ['SELECT "abc', 'unterminated_quoted_identifier'],
    ['SELECT `abc', 'unterminated_quoted_identifier'],
    ['SELECT /* abc', 'unterminated_comment'],
    ['SELECT /* a /* b */', 'unterminated_comment'],
    ['SELECT !', 'unexpected_character'],
    ['SELECT café', 'unexpected_character'],
    ['SELECT \\x', 'unexpected_character'],
  ])('%j → error token %s', (sql, reason) => {
    const all = tokenize(sql);
    expect(all.some((t) => t.kind === 'error' && t.error === reason)).toBe(true);
  });

  it('an unterminated token extends to the end of the input', () => {
    const t = tokenize("SELECT 'abc DROP TABLE t");
    expect(t).toHaveLength(2);
    expect(t[1]).toMatchObject({ kind: 'error', start: 7, end: 24 });
  });

  it('empty input has no tokens; the cursor keeps returning eof', () => {
    expect(tokenize('')).toEqual([]);
    const lx = new Lexer('');
    expect(lx.next()).toBe(TokenKind.Eof);
    expect(lx.next()).toBe(TokenKind.Eof);
  });

  it('tokens cover the input exactly, in order (trivia included)', () => {
    const sql = "SELECT a, 'b''c' /* x */ FROM `t` -- y\nWHERE x >= 1.5e3 # z\n; $$h$$ é";
    let pos = 0;
    for (const t of tokens(sql, { trivia: true })) {
      expect(t.start).toBe(pos);
      expect(t.end).toBeGreaterThan(t.start);
      pos = t.end;
    }
    expect(pos).toBe(sql.length);
  });

  it('keeps surrogate pairs whole', () => {
    expect(texts('SELECT 😀')).toEqual(['SELECT', '😀']);
  });

  it('is linear on many dollar tags without closers', () => {
    const sql = Array.from({ length: 20000 }, (_, i) => `$t${i}$`).join(' ');
    const t0 = Date.now();
    expect(tokenize(sql).length).toBe(20000);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('lexer helpers', () => {
  it('keywordAt compares case-insensitively without allocation', () => {
    expect(keywordAt('select', 0, 6, 'SELECT')).toBe(true);
    expect(keywordAt('xSeLeCt', 1, 7, 'SELECT')).toBe(true);
    expect(keywordAt('selects', 0, 7, 'SELECT')).toBe(false);
  });

  it('unquote undoes quotes, doubling and escapes', () => {
    expect(unquote("'it''s'")).toBe("it's");
    expect(unquote("'a\\nb\\tc\\\\d\\'e'")).toBe("a\nb\tc\\d'e");
    expect(unquote("'\\x41\\q'")).toBe('Aq');
    expect(unquote('`my db`')).toBe('my db');
    expect(unquote('"a""b"')).toBe('a"b');
    expect(unquote('plain')).toBe('plain');
  });
});
