import { compileCacheRules, type CacheRuleQuery } from '../../../src/cache';
import { configSchema, type CacheRuleConfig } from '../../../src/config';

/** Rules as the validated config gives them (defaults applied, patterns checked). */
function rules(input: unknown[]): CacheRuleConfig[] {
  return configSchema.parse({ writer: 'w:9000', cache: { rules: input } }).cache.rules;
}

const q = (over: Partial<CacheRuleQuery> = {}): CacheRuleQuery => ({
  user: 'app',
  database: 'shop',
  normalizedSql: 'SELECT count() FROM orders WHERE id = ?',
  ...over,
});

describe('compileCacheRules', () => {
  const match = compileCacheRules(
    rules([
      { user: 'etl', cache: false },
      { database: 'audit', pattern: '^SELECT', cache: false },
      { user: 'dashboards', database: 'shop', ttl_seconds: 600 },
      { pattern: 'FROM stock\\b', ttl_seconds: 5 },
      { database: 'shop', pattern: 'FROM orders' },
      { pattern: 'FROM stock_history' }, // FROM stock\b above does not match stock_history
    ]),
  );

  it.each<[string, Partial<CacheRuleQuery>, ReturnType<typeof match>]>([
    ['a user rule', { user: 'etl' }, { cache: false, ttlSeconds: null }],
    ['every condition must hold (database and pattern)', { database: 'audit', normalizedSql: 'SELECT 1' }, { cache: false, ttlSeconds: null }],
    ['database alone is not enough when a pattern is given', { database: 'audit', normalizedSql: 'SHOW TABLES', user: 'x' }, null],
    ['user and database', { user: 'dashboards' }, { cache: true, ttlSeconds: 600 }],
    ['the first match wins', { user: 'dashboards', normalizedSql: 'SELECT * FROM stock' }, { cache: true, ttlSeconds: 600 }],
    ['a pattern searched anywhere in the SQL', { user: 'u', normalizedSql: 'SELECT a FROM stock WHERE b = ?' }, { cache: true, ttlSeconds: 5 }],
    ['a rule without TTL: the default', { user: 'u' }, { cache: true, ttlSeconds: null }],
    ['a later rule when earlier ones do not match', { user: 'u', database: 'other', normalizedSql: 'SELECT 1 FROM stock_history' }, { cache: true, ttlSeconds: null }],
    ['no rule', { user: 'u', database: 'other', normalizedSql: 'SELECT 1' }, null],
    ['names compare exactly (case matters)', { user: 'ETL', database: 'Shop', normalizedSql: 'SELECT 1' }, null],
  ])('%s', (_name, over, expected) => {
    expect(match(q(over))).toEqual(expected);
  });

  it('with no rules, nothing matches', () => {
    expect(compileCacheRules([])(q())).toBeNull();
  });

  it('gives the same answer every time (patterns keep no state between queries)', () => {
    const m = compileCacheRules(rules([{ pattern: 'FROM t' }]));
    const sql = { normalizedSql: 'SELECT 1 FROM t' };
    expect([m(q(sql)), m(q(sql)), m(q(sql))]).toEqual(Array(3).fill({ cache: true, ttlSeconds: null }));
  });

  it('matches patterns as regular expressions over the normalized SQL, ? being a literal placeholder', () => {
    const m = compileCacheRules(rules([{ pattern: 'LIMIT \\?$', cache: false }]));
    expect(m(q({ normalizedSql: 'SELECT * FROM t LIMIT ?' }))).toEqual({ cache: false, ttlSeconds: null });
    expect(m(q({ normalizedSql: 'SELECT * FROM t LIMIT ? OFFSET ?' }))).toBeNull();
  });
});
