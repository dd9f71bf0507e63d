import fc from 'fast-check';
import { cacheKey, ENTRY_FORMAT_VERSION, isResultNeutralSetting, RESULT_NEUTRAL_SETTINGS, type CacheKeyParts } from '../../../src/cache';

const base: CacheKeyParts = {
  normalizedSql: "SELECT count() FROM hits WHERE id = 'a b'",
  database: 'default',
  readIdentity: 'reader/gh_reader',
  revision: 54412,
  settings: [
    { name: 'max_block_size', value: '1000' },
    { name: 'max_result_rows', value: '10' },
    { name: 'result_overflow_mode', value: 'break' },
  ],
  parameters: [
    { name: 'id', value: "'a'" },
    { name: 'n', value: '3' },
  ],
};

describe('cacheKey', () => {
  it('is versioned SHA-256 hex and deterministic', () => {
    const k = cacheKey(base);
    expect(k).toMatch(new RegExp(`^v${ENTRY_FORMAT_VERSION}:[0-9a-f]{64}$`));
    expect(cacheKey({ ...base, settings: [...base.settings], parameters: [...base.parameters] })).toBe(k);
  });

  it('does not depend on the order of settings or parameters', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ name: fc.string({ minLength: 1, maxLength: 8 }), value: fc.string({ maxLength: 8 }) }), {
          selector: (p) => p.name,
          maxLength: 8,
        }),
        fc.uniqueArray(fc.record({ name: fc.string({ minLength: 1, maxLength: 8 }), value: fc.string({ maxLength: 8 }) }), {
          selector: (p) => p.name,
          maxLength: 8,
        }),
        fc.infiniteStream(fc.nat()),
        (settings, parameters, rnd) => {
          const shuffle = <T>(a: T[]): T[] => {
            const out = [...a];
            for (let i = out.length - 1; i > 0; i--) {
              const j = rnd.next().value % (i + 1);
              [out[i], out[j]] = [out[j]!, out[i]!];
            }
            return out;
          };
          const a = cacheKey({ ...base, settings, parameters });
          const b = cacheKey({ ...base, settings: shuffle(settings), parameters: shuffle(parameters) });
          expect(b).toBe(a);
        },
      ),
    );
  });

  it('changes with every part', () => {
    const k = cacheKey(base);
    const variants: CacheKeyParts[] = [
      { ...base, normalizedSql: "SELECT count() FROM hits WHERE id = 'a  b'" }, // literal contents are significant
      { ...base, normalizedSql: base.normalizedSql.toLowerCase() },
      { ...base, database: 'other' },
      { ...base, readIdentity: 'reader/other_user' },
      { ...base, revision: 54460 },
      { ...base, settings: [...base.settings, { name: 'join_use_nulls', value: '1' }] },
      { ...base, settings: base.settings.map((s) => (s.name === 'max_result_rows' ? { ...s, value: '11' } : s)) },
      { ...base, settings: base.settings.slice(1) },
      { ...base, parameters: [{ name: 'id', value: "'b'" }, base.parameters[1]!] },
      { ...base, parameters: [base.parameters[0]!] },
      { ...base, parameters: [...base.parameters, { name: 'x', value: '' }] },
    ];
    const keys = new Set([k, ...variants.map(cacheKey)]);
    expect(keys.size).toBe(variants.length + 1);
  });

  it('keeps settings and parameters apart, and field boundaries unambiguous', () => {
    const p = { name: 'x', value: '1' };
    expect(cacheKey({ ...base, settings: [p], parameters: [] })).not.toBe(cacheKey({ ...base, settings: [], parameters: [p] }));
    expect(cacheKey({ ...base, database: 'ab', readIdentity: 'c' })).not.toBe(cacheKey({ ...base, database: 'a', readIdentity: 'bc' }));
    expect(cacheKey({ ...base, settings: [{ name: 'ab', value: 'c' }] })).not.toBe(cacheKey({ ...base, settings: [{ name: 'a', value: 'bc' }] }));
  });

  it('ignores result-neutral settings, whatever their value', () => {
    const k = cacheKey(base);
    const neutral = Object.keys(RESULT_NEUTRAL_SETTINGS);
    expect(neutral).toEqual(expect.arrayContaining(['max_threads', 'send_logs_level', 'network_compression_method', 'log_queries']));
    for (const name of neutral) {
      expect(isResultNeutralSetting(name)).toBe(true);
      expect(cacheKey({ ...base, settings: [{ name, value: '7' }, ...base.settings] })).toBe(k);
      expect(cacheKey({ ...base, settings: [...base.settings, { name, value: 'zstd' }] })).toBe(k);
    }
  });

  it('keeps block-shaping and limit settings in the key', () => {
    for (const name of ['max_block_size', 'preferred_block_size_bytes', 'max_result_rows', 'max_memory_usage', 'readonly']) {
      expect(isResultNeutralSetting(name)).toBe(false);
    }
    expect(isResultNeutralSetting('MAX_THREADS')).toBe(false); // exact names only: unknown spellings stay in the key
    expect(isResultNeutralSetting('constructor')).toBe(false); // not fooled by Object.prototype
  });

  it('uses the effective value when a setting repeats (the later one wins)', () => {
    const a = cacheKey({ ...base, settings: [{ name: 'join_use_nulls', value: '0' }, { name: 'join_use_nulls', value: '1' }] });
    expect(a).toBe(cacheKey({ ...base, settings: [{ name: 'join_use_nulls', value: '1' }] }));
    expect(a).not.toBe(cacheKey({ ...base, settings: [{ name: 'join_use_nulls', value: '0' }] }));
  });

  it('every RESULT_NEUTRAL_SETTINGS entry gives a reason', () => {
    for (const reason of Object.values(RESULT_NEUTRAL_SETTINGS)) expect(reason.length).toBeGreaterThan(10);
  });
});
