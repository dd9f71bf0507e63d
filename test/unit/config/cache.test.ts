/** The `cache:` section: defaults, store choice, Redis endpoints, rules, the --redis / --cache-ttl flags. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  configSchema,
  loadConfig,
  redisClusterSeeds,
  resolveRedisUrl,
  type FlagValues,
} from '../../../src/config';
import { scalarKindAt } from '../../../src/config/schema-kind';

const URL_FORMAT = 'expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or rediss://… (TLS)';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cache-config-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function yamlFile(yaml: string): string {
  const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, yaml);
  return file;
}

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const cacheOf = (cache: unknown) => configSchema.parse({ writer: 'w:9000', cache }).cache;
const issuesOf = (cache: unknown, env: NodeJS.ProcessEnv = { REDIS_URL: 'redis://r:6379' }) =>
  errorOf(() => loadConfig({ file: yamlFile(`writer: "w:9000"\ncache: ${JSON.stringify(cache)}\n`), flags: {}, env })).issues;

describe('cache section', () => {
  it('is off by default, even with other cache keys set: caching changes freshness, so it is opt-in', () => {
    expect(cacheOf(undefined).enabled).toBe(false);
    expect(cacheOf({ ttl_seconds: 5, redis: { url: 'redis://r:6379' } }).enabled).toBe(false);
  });

  it('accepts every key (standalone Redis through a variable, cluster seeds)', () => {
    const full = {
      enabled: true,
      store: 'redis' as const,
      ttl_seconds: 300,
      soft_ttl_seconds: 240,
      max_entry_bytes: 1024,
      max_bytes: 1024,
      lock_timeout_ms: 1,
      redis: { url_env: 'GH_REDIS_URL', cluster: false, nodes: [], tls: false, prefix: '', command_timeout_ms: 10, feed_read_mark_ms: 1000 },
      rules: [
        { user: 'u', database: 'd', pattern: '^SELECT', cache: true, ttl_seconds: 1 },
        { pattern: 'FROM stock', cache: false },
      ],
    };
    expect(cacheOf(full)).toEqual(full);
    const cluster = { ...full, redis: { cluster: true, nodes: ['r1:7000', '[::1]:7001'], tls: false, prefix: 'gh:', command_timeout_ms: 10, feed_read_mark_ms: 60_000 } };
    expect(cacheOf(cluster)).toEqual(cluster);
    const secured = { ...full, redis: { ...cluster.redis, username: 'gh', password_env: 'GH_REDIS_PASSWORD', tls: true } };
    expect(cacheOf(secured)).toEqual(secured);
  });

  it('a rule without cache: or ttl_seconds caches with the default TTL', () => {
    expect(cacheOf({ rules: [{ database: 'shop' }] }).rules).toEqual([{ database: 'shop', cache: true }]);
  });

  it.each([
    [{}, 'memory'],
    [{ redis: { url: 'redis://r:6379' } }, 'redis'],
    [{ redis: { url_env: 'REDIS_URL' } }, 'redis'],
    [{ redis: { cluster: true, nodes: ['r:7000'] } }, 'redis'],
    // An explicit store wins: Redis settings may stay in the file while the memory store is tried.
    [{ store: 'memory', redis: { url: 'redis://r:6379' } }, 'memory'],
  ] as const)('store of %j is %s', (cache, store) => {
    expect(cacheOf(cache).store).toBe(store);
  });

  it('takes numbers and booleans from ${VAR}', () => {
    const file = yamlFile('writer: "w:9000"\ncache:\n  enabled: ${ON}\n  ttl_seconds: ${TTL}\n  rules: [{ user: u, ttl_seconds: "${TTL}" }]\n');
    const cfg = loadConfig({ file, flags: {}, env: { ON: 'true', TTL: '15' } });
    expect([cfg.cache.enabled, cfg.cache.ttl_seconds, cfg.cache.rules[0]!.ttl_seconds]).toEqual([true, 15, 15]);
  });

  it.each([
    [['cache', 'enabled'], 'boolean'],
    [['cache', 'ttl_seconds'], 'number'],
    [['cache', 'soft_ttl_seconds'], 'number'],
    [['cache', 'max_bytes'], 'number'],
    [['cache', 'redis', 'cluster'], 'boolean'],
    [['cache', 'redis', 'command_timeout_ms'], 'number'],
    [['cache', 'redis', 'url'], 'other'],
    [['cache', 'redis', 'nodes', 0], 'other'],
    [['cache', 'rules', 0, 'cache'], 'boolean'],
    [['cache', 'rules', 0, 'ttl_seconds'], 'number'],
    [['cache', 'store'], 'other'],
  ] as const)('scalarKindAt(%j) is %s', (p, kind) => {
    expect(scalarKindAt(p)).toBe(kind);
  });
});

describe('bad cache sections (exact message and path)', () => {
  it.each<[string, unknown, { path: string; message: string }[]]>([
    ['not a mapping', 5, [{ path: 'cache', message: 'expected object, got number' }]],
    ['TTL not an integer', { ttl_seconds: 1.5 }, [{ path: 'cache.ttl_seconds', message: 'expected integer, got float' }]],
    ['TTL too large', { ttl_seconds: 2 ** 31 }, [{ path: 'cache.ttl_seconds', message: 'must be <= 2147483647' }]],
    ['soft TTL above TTL', { soft_ttl_seconds: 61 }, [{ path: 'cache.soft_ttl_seconds', message: 'must be < cache.ttl_seconds (60)' }]],
    ['soft TTL 0', { soft_ttl_seconds: 0 }, [{ path: 'cache.soft_ttl_seconds', message: 'must be >= 1' }]],
    [
      'entry cap above the default budget',
      { max_entry_bytes: 512 * 1024 * 1024 },
      [{ path: 'cache.max_entry_bytes', message: 'must be <= cache.max_bytes (268435456)' }],
    ],
    [
      'store redis without an endpoint',
      { store: 'redis', redis: { prefix: 'x:' } },
      [{ path: 'cache.redis.url', message: 'required when cache.store is redis (or set url_env, or cluster: true with nodes)' }],
    ],
    [
      'store redis with cluster but no seeds',
      { store: 'redis', redis: { cluster: true } },
      [{ path: 'cache.redis.nodes', message: 'must not be empty when cluster is true' }],
    ],
    [
      'url and url_env',
      { redis: { url: 'redis://r:1', url_env: 'REDIS_URL' } },
      [{ path: 'cache.redis', message: 'set only one of url, url_env' }],
    ],
    [
      'cluster with a url',
      { redis: { cluster: true, url: 'redis://r:1', nodes: ['r:1'] } },
      [{ path: 'cache.redis', message: 'with cluster: true the seeds are nodes: remove url / url_env' }],
    ],
    [
      'cluster credentials without cluster: true (a single server carries them in its URL)',
      { redis: { url: 'redis://r:1', username: 'u', password: 'pw', tls: true } },
      ['username', 'password', 'tls'].map((key) => ({
        path: `cache.redis.${key}`,
        message: 'used only with cluster: true (a single server takes it in its URL: redis[s]://[USER:]PASSWORD@HOST:PORT)',
      })),
    ],
    ['feed read mark too short', { redis: { url: 'redis://r:1', feed_read_mark_ms: 999 } }, [{ path: 'cache.redis.feed_read_mark_ms', message: 'must be >= 1000' }]],
    [
      'cluster password and password_env',
      { redis: { cluster: true, nodes: ['r:1'], password: 'pw', password_env: 'REDIS_URL' } },
      [{ path: 'cache.redis', message: 'set only one of password, password_env' }],
    ],
    [
      'cluster user without a password',
      { redis: { cluster: true, nodes: ['r:1'], username: 'u' } },
      [{ path: 'cache.redis.username', message: 'needs password or password_env (Redis authenticates a user with its password)' }],
    ],
    [
      'cluster password empty',
      { redis: { cluster: true, nodes: ['r:1'], password: '' } },
      [{ path: 'cache.redis.password', message: 'must not be empty (leave it out for no password)' }],
    ],
    [
      'unparsable url: not echoed at all',
      { redis: { url: 'redis://:pw@host:port' } },
      [{ path: 'cache.redis.url', message: `${URL_FORMAT} (the value is not shown: it may hold a password)` }],
    ],
    [
      'url with a path that is no database number',
      { redis: { url: 'redis://u:pw@host:6379/cache' } },
      [{ path: 'cache.redis.url', message: `${URL_FORMAT}, got redis://u:***@host:6379/cache` }],
    ],
    ['url without host', { redis: { url: 'redis:///0' } }, [{ path: 'cache.redis.url', message: `${URL_FORMAT}, got redis:///0` }]],
    [
      'a rule that matches nothing in particular',
      { rules: [{ user: 'a' }, { cache: false }] },
      [{ path: 'cache.rules.1', message: 'set at least one of user, database, pattern' }],
    ],
    [
      'a rule with an empty pattern and an unknown key',
      { rules: [{ pattern: '', kind: 'read' }] },
      [
        { path: 'cache.rules.0.pattern', message: 'must not be empty' },
        { path: 'cache.rules.0.kind', message: 'unknown key' },
      ],
    ],
    [
      'a rule with a bad regular expression',
      { rules: [{ pattern: 'a[' }] },
      [{ path: 'cache.rules.0.pattern', message: 'Invalid regular expression: /a[/: Unterminated character class' }],
    ],
  ])('%s', (_name, cache, issues) => {
    expect(issuesOf(cache)).toEqual(issues);
  });

  it('url_env must name a set variable holding a Redis URL (checked at load, the value never shown)', () => {
    const cache = { redis: { url_env: 'GH_REDIS_URL' } };
    expect(issuesOf(cache)).toEqual([{ path: 'cache.redis.url_env', message: 'environment variable GH_REDIS_URL is not set' }]);
    expect(issuesOf(cache, { GH_REDIS_URL: 'hunter2' })).toEqual([
      {
        path: 'cache.redis.url_env',
        message: `environment variable GH_REDIS_URL: ${URL_FORMAT} (the value is not shown: it may hold a password)`,
      },
    ]);
    expect(issuesOf(cache, { GH_REDIS_URL: 'http://:hunter2@r:1' })[0]!.message).toBe(
      `environment variable GH_REDIS_URL: ${URL_FORMAT}, got http://:***@r:1/`,
    );
  });
});

describe('Redis Cluster credentials', () => {
  const cluster = (extra: object) => ({ cluster: true, nodes: ['r1:7000', '[::1]:7001'], tls: false, ...extra });

  it('go into every seed URL, encoded; TLS makes them rediss://', () => {
    expect(redisClusterSeeds(cluster({}), {})).toEqual(['redis://r1:7000', 'redis://[::1]:7001']);
    expect(redisClusterSeeds(cluster({ password: 'p@ss:/w' }), {})).toEqual(['redis://:p%40ss%3A%2Fw@r1:7000', 'redis://:p%40ss%3A%2Fw@[::1]:7001']);
    expect(redisClusterSeeds(cluster({ username: 'gh', password_env: 'P', tls: true }), { P: 's3cret' })).toEqual([
      'rediss://gh:s3cret@r1:7000',
      'rediss://gh:s3cret@[::1]:7001',
    ]);
  });

  it('password_env must name a set variable (at load, and again when the store is built)', () => {
    const file = { cluster: true, nodes: ['r:1'], password_env: 'GH_REDIS_PASSWORD' };
    expect(issuesOf({ redis: file })).toEqual([{ path: 'cache.redis.password_env', message: 'environment variable GH_REDIS_PASSWORD is not set' }]);
    expect(issuesOf({ redis: file }, { GH_REDIS_PASSWORD: '' })).toEqual([
      { path: 'cache.redis.password_env', message: 'environment variable GH_REDIS_PASSWORD is not set' },
    ]);
    expect(cacheOf({ redis: file }).redis.password_env).toBe('GH_REDIS_PASSWORD');
    expect(errorOf(() => redisClusterSeeds(cluster({ password_env: 'P' }), {})).message).toBe(
      'cache.redis.password_env: environment variable P is not set',
    );
  });
});

describe('resolveRedisUrl', () => {
  it('gives url, or the value of url_env, or undefined for a cluster', () => {
    expect(resolveRedisUrl({ url: 'redis://a:1' }, {})).toBe('redis://a:1');
    expect(resolveRedisUrl({ url_env: 'R' }, { R: 'redis://:pw@b:2' })).toBe('redis://:pw@b:2');
    expect(resolveRedisUrl({}, {})).toBeUndefined();
  });

  it('names an unset variable, as a ConfigError', () => {
    expect(errorOf(() => resolveRedisUrl({ url_env: 'R' }, {})).message).toBe('cache.redis.url_env: environment variable R is not set');
  });
});

describe('--redis and --cache-ttl', () => {
  const load = (flags: FlagValues, yaml = 'writer: "w:9000"\n') => loadConfig({ file: yamlFile(yaml), flags, env: {} });

  it('--cache-ttl sets the TTL and turns the memory cache on', () => {
    expect(load({ cacheTtl: '30' }).cache).toMatchObject({ enabled: true, store: 'memory', ttl_seconds: 30 });
  });

  it('--redis sets the URL, the store and turns the cache on', () => {
    expect(load({ redis: 'redis://:pw@r:6379/1' }).cache).toMatchObject({
      enabled: true,
      store: 'redis',
      ttl_seconds: 60,
      redis: { url: 'redis://:pw@r:6379/1', cluster: false, nodes: [] },
    });
  });

  it('win over the file: enabled: false, store: memory, and the file\'s Redis endpoint (url_env or cluster seeds)', () => {
    const yaml = [
      'writer: "w:9000"',
      'cache:',
      '  enabled: false',
      '  store: memory',
      '  ttl_seconds: 10',
      '  redis: { cluster: true, nodes: ["r1:7000"], url_env: NOT_SET, password_env: NOT_SET_EITHER, username: u, tls: true, prefix: "keep:" }',
    ].join('\n');
    const cache = load({ redis: 'redis://r:6379', cacheTtl: '20' }, yaml).cache;
    expect(cache).toMatchObject({ enabled: true, store: 'redis', ttl_seconds: 20 });
    expect(cache.redis).toEqual({ url: 'redis://r:6379', cluster: false, nodes: [], tls: false, prefix: 'keep:', command_timeout_ms: 250, feed_read_mark_ms: 5000 });
    expect(load({ cacheTtl: '20' }, 'writer: "w:9000"\ncache: { enabled: false }\n').cache.enabled).toBe(true);
  });

  it.each(['abc', '1.5', '1e3', '', '-5', ' 30'])('--cache-ttl %j is one issue at cache.ttl_seconds', (value) => {
    expect(errorOf(() => load({ cacheTtl: value })).issues).toEqual([
      { path: 'cache.ttl_seconds', message: `--cache-ttl expects a whole number of seconds, got ${JSON.stringify(value)}` },
    ]);
  });

  it('--cache-ttl 0 is refused by the schema', () => {
    expect(errorOf(() => load({ cacheTtl: '0' })).issues).toEqual([{ path: 'cache.ttl_seconds', message: 'must be >= 1' }]);
  });

  it('a bad --redis URL is reported without its password', () => {
    const err = errorOf(() => load({ redis: 'http://:hunter2@r:6379' }));
    expect(err.issues).toEqual([{ path: 'cache.redis.url', message: `${URL_FORMAT}, got http://:***@r:6379/` }]);
    expect(err.message).not.toContain('hunter2');
  });

  it('leave a cache section that is not a mapping to the schema', () => {
    expect(errorOf(() => load({ cacheTtl: '5' }, 'writer: "w:9000"\ncache: [1]\n')).issues).toEqual([
      { path: 'cache', message: 'expected object, got array' },
    ]);
  });
});
