// The limits module only: the protocol index would load the native LZ4 binding for nothing.
import { withLimits, DEFAULT_LIMITS } from '../../../src/protocol/limits';
import {
  configSchema,
  formatHostPort,
  limitsFromConfig,
  LIMIT_KEYS,
  parseHostPort,
  tryParseHostPort,
  ConfigError,
} from '../../../src/config';
import { scalarKindAt } from '../../../src/config/schema-kind';

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:9000', { host: '127.0.0.1', port: 9000 }],
    ['ch-writer:1', { host: 'ch-writer', port: 1 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
    ['[::1]:9001', { host: '::1', port: 9001 }],
    ['[fe80::1%eth0]:9000', { host: 'fe80::1%eth0', port: 9000 }],
  ])('%s', (s, expected) => {
    expect(parseHostPort(s)).toEqual(expected);
    expect(formatHostPort(expected)).toBe(s);
  });

  it.each(['', 'host', ':9000', 'host:', 'host:0', 'host:65536', 'host:123456', 'host:9e3', '::1:9000', 'a b:1', 'http://h:1', '[::1]', 'h:-1'])(
    'rejects %j',
    (s) => {
      expect(tryParseHostPort(s)).toBeUndefined();
      expect(() => parseHostPort(s)).toThrow(ConfigError);
      expect(() => parseHostPort(s)).toThrow(`expected HOST:PORT, got ${JSON.stringify(s)}`);
    },
  );
});

describe('limits section', () => {
  it('maps every snake_case key to the codec limit of the same name', () => {
    const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    for (const [snake, field] of Object.entries(LIMIT_KEYS)) expect(field).toBe(camel(snake));
    expect(Object.values(LIMIT_KEYS).sort()).toEqual(Object.keys(DEFAULT_LIMITS).sort());
  });

  it('turns overrides into codec limits, keeping defaults elsewhere', () => {
    const cfg = configSchema.parse({ writer: 'w:9000', limits: { max_columns: 10, max_block_bytes: 1024 } });
    const limits = withLimits(limitsFromConfig(cfg.limits));
    expect(limits).toEqual({ ...DEFAULT_LIMITS, maxColumns: 10, maxBlockBytes: 1024 });
  });
});

describe('scalarKindAt', () => {
  it.each([
    [['pool', 'min_idle'], 'number'],
    [['pool', 'max_size'], 'number'],
    [['limits', 'max_depth'], 'number'],
    [['users', 3, 'readonly'], 'boolean'],
    [['users', 0, 'password'], 'other'],
    [['read_user', 'password'], 'other'],
    [['readers', 1], 'other'],
    [['pool', 'mode'], 'other'],
    [['pool', 'nope'], 'other'],
    [['lifecycle', 'workers'], 'number'], // 'auto' | N: a decimal can only mean N
    [['tls', 'require'], 'boolean'],
    [['login_limit', 'max_failures'], 'number'],
    [['pool'], 'other'],
  ] as const)('%j is %s', (path, kind) => {
    expect(scalarKindAt(path)).toBe(kind);
  });
});
