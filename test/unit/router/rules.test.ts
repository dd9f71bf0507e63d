import { configSchema } from '../../../src/config';
import { compileRules, evaluateRules, normalizeSql, type RuleContext, type RuleSpec } from '../../../src/router';

const ctx = (over: Partial<RuleContext> = {}): RuleContext => ({
  user: 'app',
  database: 'default',
  kind: 'read',
  sql: 'SELECT 1',
  ...over,
});

/** A realistic rule list: settings for everyone, then per-user/database/kind/pattern decisions. */
const RULES: RuleSpec[] = [
  /* 0 */ { settings: { max_execution_time: 60 } },
  /* 1 */ { match: { user: 'dashboards' }, settings: { max_execution_time: 10, use_uncompressed_cache: true } },
  /* 2 */ { match: { kind: 'unknown' }, deny: 'statement not understood by the proxy' },
  /* 3 */ { match: { database: 'audit', kind: 'write' }, deny: 'audit is append-only' },
  /* 4 */ { match: { pattern: 'FROM system\\.' }, target: 'writer' },
  /* 5 */ { match: { user: 'etl', pattern: '^INSERT INTO events_\\w+' }, target: 'analytics' },
  /* 6 */ { match: { pattern: 'WHERE id IN \\(\\?\\)$' }, settings: { max_threads: '2' } },
  /* 7 */ { match: { user: 'dashboards', kind: 'read' }, target: 'readers' },
];

describe('evaluateRules: table', () => {
  const compiled = compileRules(RULES);
  const s = (entries: Record<string, string>) => Object.entries(entries).map(([name, value]) => ({ name, value }));

  it.each<[string, Partial<RuleContext>, ReturnType<typeof evaluateRules>]>([
    ['no deciding rule: only the global settings', {}, { settings: s({ max_execution_time: '60' }) }],
    [
      'a later settings rule overrides a name, keeping its first position',
      { user: 'dashboards', kind: 'write', sql: 'INSERT INTO t VALUES' },
      { settings: s({ max_execution_time: '10', use_uncompressed_cache: '1' }) },
    ],
    [
      'first deciding rule wins, with the settings gathered before it',
      { user: 'dashboards', sql: 'select * from t' },
      { target: 'readers', rule: 7, settings: s({ max_execution_time: '10', use_uncompressed_cache: '1' }) },
    ],
    ['deny by kind', { kind: 'unknown', sql: 'FOO BAR' }, { deny: 'statement not understood by the proxy', rule: 2, settings: s({ max_execution_time: '60' }) }],
    ['deny by database and kind', { database: 'audit', kind: 'write', sql: 'DROP TABLE x' }, { deny: 'audit is append-only', rule: 3, settings: s({ max_execution_time: '60' }) }],
    ['database must match exactly', { database: 'audit2', kind: 'write', sql: 'DROP TABLE x' }, { settings: s({ max_execution_time: '60' }) }],
    ['kind must match too', { database: 'audit', kind: 'read', sql: 'SELECT 1' }, { settings: s({ max_execution_time: '60' }) }],
    [
      'pattern on the normalized SQL: keywords upper-cased, comments gone',
      { sql: '/* x */ select * from system.processes' },
      { target: 'writer', rule: 4, settings: s({ max_execution_time: '60' }) },
    ],
    ['pattern is case-sensitive on identifiers', { sql: 'select * from SYSTEM.processes' }, { settings: s({ max_execution_time: '60' }) }],
    [
      'pattern and user together',
      { user: 'etl', kind: 'write', sql: "insert into events_2024 values (1, 'a')" },
      { target: 'analytics', rule: 5, settings: s({ max_execution_time: '60' }) },
    ],
    ['pattern without its user', { user: 'app', kind: 'write', sql: 'INSERT INTO events_2024 VALUES (1)' }, { settings: s({ max_execution_time: '60' }) }],
    [
      'pattern matching a collapsed IN list adds settings',
      { sql: 'SELECT * FROM t WHERE id IN (1, 2, 3);' },
      { settings: s({ max_execution_time: '60', max_threads: '2' }) },
    ],
  ])('%s', (_name, over, expected) => {
    expect(evaluateRules(compiled, ctx(over))).toEqual(expected);
  });

  it('uses the normalized SQL the caller gives instead of computing it', () => {
    const decision = evaluateRules(compiled, ctx({ sql: 'SELECT 1', normalized: 'SELECT * FROM system.one' }));
    expect(decision.target).toBe('writer');
  });

  it('stops at the first deciding rule (later patterns are not evaluated)', () => {
    const noPattern = compileRules([{ target: 'writer' }, { match: { pattern: '.' }, target: 'readers' }]);
    expect(evaluateRules(noPattern, ctx({ sql: "SELECT '" }))).toEqual({ target: 'writer', rule: 0, settings: [] });
  });

  it('no rules: nothing decided, no settings', () => {
    expect(evaluateRules(compileRules([]), ctx())).toEqual({ settings: [] });
  });

  it('an empty match matches everything', () => {
    expect(evaluateRules(compileRules([{ match: {}, deny: 'closed' }]), ctx({ kind: 'session', sql: 'SET a = 1' }))).toEqual({
      deny: 'closed',
      rule: 0,
      settings: [],
    });
  });
});

describe('compileRules', () => {
  it('compiles each pattern once and keeps settings as text (booleans as 1/0)', () => {
    const [r] = compileRules([{ match: { pattern: 'a+', user: 'u', database: 'd', kind: 'write' }, settings: { x: 1, y: false, z: 'q' } }]);
    expect(r!.pattern).toBeInstanceOf(RegExp);
    expect(r).toMatchObject({ index: 0, user: 'u', database: 'd', kind: 'write' });
    expect(r!.settings).toEqual([
      { name: 'x', value: '1' },
      { name: 'y', value: '0' },
      { name: 'z', value: 'q' },
    ]);
  });

  it('is stateless between evaluations (no global-flag lastIndex surprises)', () => {
    const compiled = compileRules([{ match: { pattern: 'SELECT' }, target: 'writer' }]);
    for (let i = 0; i < 3; i++) expect(evaluateRules(compiled, ctx()).target).toBe('writer');
  });

  it('takes the validated config rules as they are', () => {
    const cfg = configSchema.parse({
      writer: 'w:9000',
      groups: { analytics: { writer: 'a:9000' } },
      routing: { rules: [{ match: { kind: 'read', pattern: 'FROM big_' }, target: 'analytics' }, { settings: { max_threads: 4 } }] },
    });
    const compiled = compileRules(cfg.routing.rules);
    expect(evaluateRules(compiled, ctx({ sql: 'select * from big_table', normalized: normalizeSql('select * from big_table') }))).toEqual({
      target: 'analytics',
      rule: 0,
      settings: [],
    });
    expect(evaluateRules(compiled, ctx({ sql: 'select 1' }))).toEqual({ settings: [{ name: 'max_threads', value: '4' }] });
  });
});
