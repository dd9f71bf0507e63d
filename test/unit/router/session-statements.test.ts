import { parseSetAssignments, parseUse } from '../../../src/router/session-statements';
import { TokenCursor } from '../../../src/router/token-cursor';
import { classify } from '../../../src/router';

const set = (sql: string) => parseSetAssignments(new TokenCursor(sql), 1); // token 0 is SET
const use = (sql: string) => parseUse(new TokenCursor(sql), 0);

describe('parseUse', () => {
  it.each([
    ['USE db', 'db'],
    ['USE `my db`', 'my db'],
    ['USE "d""b"', 'd"b'],
    ['USE db ; ', 'db'],
    ['USE db -- comment', 'db'],
  ])('%j → %j', (sql, db) => expect(use(sql)).toBe(db));

  it.each(['USE', 'USE ``', "USE 'db'", 'USE db.x', 'USE db; SELECT 1', 'USE (db)'])('%j → null', (sql) => {
    expect(use(sql)).toBeNull();
  });
});

describe('parseSetAssignments', () => {
  it('converts literal values to setting text', () => {
    expect(set("SET a = 1, b = 'x', c = 0.5, d = true, e = FALSE, f = -3, g = 0b11, h = 2.5e2, i = 'a\\tb'")).toEqual({
      ok: true,
      settings: [
        { name: 'a', value: '1' }, { name: 'b', value: 'x' }, { name: 'c', value: '0.5' }, { name: 'd', value: '1' },
        { name: 'e', value: '0' }, { name: 'f', value: '-3' }, { name: 'g', value: '3' }, { name: 'h', value: '250' },
        { name: 'i', value: 'a\tb' },
      ],
    });
  });

  it('keeps big integers exact', () => {
    expect(set('SET max_memory_usage = 18446744073709551615')).toEqual({
      ok: true, settings: [{ name: 'max_memory_usage', value: '18446744073709551615' }],
    });
    expect(set('SET x = 0xFFFFFFFFFFFFFFFF')).toEqual({ ok: true, settings: [{ name: 'x', value: '18446744073709551615' }] });
  });

  it('accepts compound and quoted names', () => {
    expect(set('SET custom.a = 1, `b c` = 2')).toEqual({
      ok: true, settings: [{ name: 'custom.a', value: '1' }, { name: 'b c', value: '2' }],
    });
  });

  it.each([
    ['SET a = DEFAULT', 'SET … = DEFAULT'],
    ['SET param_x = 1', 'SET query parameter'],
    ['SET a = NULL', 'SET (unsupported value)'],
    ['SET a = (1, 2)', 'SET (unsupported value)'],
    ["SET a = x'41'", 'SET (unsupported value)'],
    ["SET disk = disk(type = 'local')", 'SET (unsupported value)'],
    ['SET a = {x:UInt8}', 'SET (unsupported value)'],
    ['SET a = 1,', 'SET (unparsed)'],
    ['SET a = 1 garbage', 'SET (unparsed)'],
    ['SET = 1', 'SET (unparsed)'],
    ["SET TIME ZONE UTC", 'SET TIME ZONE (unparsed value)'],
  ])('%j cannot be replayed: %s', (sql, reason) => {
    expect(set(sql)).toEqual({ ok: false, reason });
  });

  it('a SET that cannot be replayed pins the client instead of being recorded', () => {
    expect(classify('SET a = DEFAULT')).toEqual({
      kind: 'session', route: 'writer', statement: 'SET', pins: 'SET … = DEFAULT', readOnlySafe: false,
    });
  });
});

describe('TokenCursor', () => {
  it('lexes lazily: tokens after the ones asked for are not lexed', () => {
    const c = new TokenCursor("INSERT INTO t FORMAT CSV\n'unterminated data");
    expect(c.text(4)).toBe('CSV');
    expect(c.kind(5)).toBe('error'); // only now is the data's first token lexed
    expect(c.kind(6)).toBe('eof');
    expect(c.end(99)).toBe(c.sql.length);
  });

  it('skipGroup jumps over nested brackets, or to eof when unclosed', () => {
    const c = new TokenCursor('f(a, [b, {c: (d)}]) x');
    expect(c.text(c.skipGroup(1))).toBe('x');
    const open = new TokenCursor('(a (b)');
    expect(open.kind(open.skipGroup(0))).toBe('eof');
  });
});

describe('classify: linear time', () => {
  it('handles 1 MB statements quickly', () => {
    const select = `SELECT ${'a, '.repeat(300_000)}1 FROM t`;
    const insert = `INSERT INTO t VALUES ${"(1, 'x'), ".repeat(100_000)}`;
    const t0 = Date.now();
    expect(classify(select).kind).toBe('read');
    expect(classify(insert).insert?.expectsData).toBe(false);
    expect(classify(`SELECT '${'x'.repeat(1_000_000)}`).kind).toBe('unknown');
    expect(classify(`SELECT /* ${'/* '.repeat(300_000)}`).kind).toBe('unknown');
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
