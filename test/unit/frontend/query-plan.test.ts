import { planQuery } from '../../../src/frontend/query-plan';
import { ClientCode, type ClientQuery } from '../../../src/protocol';
import { classify, compileRules } from '../../../src/router';

function plan(sql: string, opts: { readonly?: boolean; settings?: { name: string; value: string }[]; rules?: Parameters<typeof compileRules>[0] } = {}) {
  const q: ClientQuery = { code: ClientCode.Query, queryId: '', settings: [], stage: 2, compression: false, query: sql };
  return planQuery({
    q,
    cls: classify(sql),
    user: { name: 'app', readonly: opts.readonly ?? false, settings: opts.settings },
    userName: 'app',
    database: 'default',
    rules: compileRules(opts.rules ?? []),
  });
}

describe('planQuery', () => {
  it('a read-only user may read, USE and SET, nothing else (164)', () => {
    expect(plan('SELECT 1', { readonly: true })).toMatchObject({ group: 'default', forced: null });
    expect(plan('SET max_threads = 1', { readonly: true })).not.toHaveProperty('refuse');
    expect(plan('INSERT INTO t VALUES', { readonly: true })).toMatchObject({ refuse: { chCode: 164 } });
    expect(plan('CREATE TEMPORARY TABLE t (a UInt8)', { readonly: true })).toMatchObject({ refuse: { chCode: 164 } });
  });

  it('rules: deny (497), a forced route, a named group, injected settings', () => {
    const rules = [
      { match: { pattern: 'secret' }, deny: 'no secrets' },
      { match: { kind: 'read' as const, pattern: 'FROM hot' }, target: 'writer' },
      { match: { pattern: 'FROM analytics' }, target: 'g2' },
      { match: {}, settings: { max_execution_time: 10 } },
    ];
    expect(plan('SELECT * FROM secret', { rules })).toMatchObject({ refuse: { chCode: 497, message: expect.stringContaining('no secrets') } });
    expect(plan('SELECT * FROM hot', { rules })).toMatchObject({ forced: 'writer' });
    expect(plan('SELECT * FROM analytics', { rules })).toMatchObject({ group: 'g2', forced: null });
    expect(plan('SELECT 1', { rules })).toMatchObject({ injected: [{ name: 'max_execution_time', value: '10', flags: 0 }] });
  });

  it('an enforced setting cannot be changed by the query text or a SET (452)', () => {
    const settings = [{ name: 'max_threads', value: '3' }];
    expect(plan('SELECT 1 SETTINGS max_threads = 8', { settings })).toMatchObject({ refuse: { chCode: 452 } });
    expect(plan('SET max_threads = 8', { settings })).toMatchObject({ refuse: { chCode: 452 } });
    expect(plan('SELECT 1 SETTINGS max_block_size = 8', { settings })).toMatchObject({ injected: [{ name: 'max_threads', value: '3', flags: 0 }] });
  });
});
