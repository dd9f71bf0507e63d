import * as path from 'node:path';
import { configSchema, describeConfig, loadConfig, redactConfig, redactRedisUrl } from '../../../src/config';

const GOOD = path.join(__dirname, 'fixtures', 'good.full.yaml');
const SECRETS = ['r-pass', 'w-pass', 'ar-pass', 'redis-pass', '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b'];
const ENV = {
  GH_READ_PASSWORD: 'r-pass',
  GH_WRITE_PASSWORD: 'w-pass',
  GH_MIN_IDLE: '1',
  GH_APP_PASSWORD: 'secret',
  GH_APP_READ_PASSWORD: 'ar-pass',
  GH_REDIS_PASSWORD: 'redis-pass',
};

function load() {
  return loadConfig({ file: GOOD, flags: {}, env: ENV });
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<T> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])) as unknown as Partial<T>;
}

describe('redactConfig', () => {
  it('masks every password and password hash, and nothing else', () => {
    const cfg = load();
    const red = redactConfig(cfg);
    expect(red.users.map((u) => [u.name, u.password, u.password_sha256_hex, u.password_env, u.read_user])).toEqual([
      // The name of a password variable is not a secret; its value never enters the configuration.
      ['app', undefined, undefined, 'GH_APP_PASSWORD', { name: 'app_reader', password: '***' }],
      ['dashboards', undefined, '***', undefined, undefined],
    ]);
    expect(red.read_user).toEqual({ name: 'gh_reader', password: '***' });
    expect(red.write_user).toEqual({ name: 'gh_writer', password: '***' });
    expect(red.cache.redis.url).toBe('redis://:***@redis-1:6379/2');
    const unmasked = red.users.map((u, i) => ({ ...u, ...pick(cfg.users[i]!, ['password_sha256_hex', 'read_user']) }));
    const cache = { ...red.cache, redis: { ...red.cache.redis, url: cfg.cache.redis.url } };
    expect({ ...red, users: unmasked, read_user: cfg.read_user, write_user: cfg.write_user, cache }).toEqual(cfg);
    const text = JSON.stringify(red);
    for (const s of SECRETS) expect(text).not.toContain(s);
  });

  it('masks a Redis Cluster password and keeps the name of its variable', () => {
    const cluster = (redis: object) =>
      configSchema.parse({ writer: 'w:9000', cache: { enabled: true, redis: { cluster: true, nodes: ['r:7000'], ...redis } } });
    const plain = redactConfig(cluster({ username: 'gh', password: 'hunter2' }));
    expect(plain.cache.redis).toMatchObject({ username: 'gh', password: '***' });
    expect(JSON.stringify(plain)).not.toContain('hunter2');
    expect(redactConfig(cluster({ password_env: 'GH_REDIS_PASSWORD' })).cache.redis).toMatchObject({ password_env: 'GH_REDIS_PASSWORD' });
    expect(redactConfig(cluster({})).cache.redis.password).toBeUndefined();
  });

  it('keeps TLS file paths (the files are never read) and copies every section', () => {
    const cfg = load();
    const red = redactConfig(cfg);
    expect(red.tls).toEqual(cfg.tls);
    expect(red.backend_tls).toEqual(cfg.backend_tls);
    for (const key of ['tls', 'backend_tls', 'connections', 'login_limit', 'lifecycle'] as const) {
      expect(red[key]).not.toBe(cfg[key]); // a copy: a caller changing the redacted one cannot change the live one
    }
  });

  it('does not change the configuration it was given', () => {
    const cfg = load();
    const before = JSON.stringify(cfg);
    redactConfig(cfg);
    expect(JSON.stringify(cfg)).toBe(before);
  });

  it('masks a plain password given by --user', () => {
    const cfg = loadConfig({ flags: { writer: 'w:9000', user: ['app:secret'], readUser: 'ro', writeUser: 'rw' }, env: {} });
    expect(redactConfig(cfg).users[0]!.password).toBe('***');
    expect(JSON.stringify(redactConfig(cfg))).not.toContain('secret');
  });

  it('keeps an empty backend password empty (nothing to hide, and it shows none is set)', () => {
    const cfg = loadConfig({ flags: { writer: 'w:9000', readUser: 'ro', writeUser: 'rw:x' }, env: {} });
    expect(redactConfig(cfg).read_user).toEqual({ name: 'ro', password: '' });
    expect(redactConfig(cfg).write_user).toEqual({ name: 'rw', password: '***' });
  });
});

describe('describeConfig', () => {
  it('is one line with the essentials and no secrets', () => {
    const line = describeConfig(load());
    expect(line).toBe(
      'listen=off tls=0.0.0.0:9440(require,client_cert) backend_tls=verify admin=127.0.0.1:9363 writer=ch-writer:9000 readers=[ch-reader-1:9000,[::1]:9001*3] ' +
        'groups=analytics(writer=an-writer:9000,readers=[an-reader:9000,an-reader-2:9000*2]) rules=3 ' +
        'users=app,dashboards(readonly) read_user=gh_reader write_user=gh_writer pool=session(min_idle=1,max_size=20) ' +
        'streaming=buffer cache=redis(ttl=120s) limits=max_string_bytes=1048576,max_columns=1000 log_level=debug',
    );
    for (const s of SECRETS) expect(line).not.toContain(s);
  });

  it('describes the defaults', () => {
    expect(describeConfig(loadConfig({ flags: { writer: 'w:9000' }, env: {} }))).toBe(
      'listen=127.0.0.1:9000 admin=off writer=w:9000 readers=[] users=(pass-through) read_user=- write_user=- ' +
        'pool=query(min_idle=1,max_size=auto) streaming=stream cache=off log_level=info',
    );
  });

  it.each([
    [{ tls: { listen: '127.0.0.1:9440', cert_file: 'c.pem', key_file: 'k.pem' } }, 'listen=127.0.0.1:9000 tls=127.0.0.1:9440 admin=off'],
    [{ tls: { cert_file: 'c.pem', key_file: 'k.pem', require: true } }, 'listen=off tls=127.0.0.1:9440(require) admin=off'],
    [{ backend_tls: { enabled: true } }, 'listen=127.0.0.1:9000 backend_tls=verify admin=off'],
    [{ backend_tls: { enabled: true, insecure_skip_verify: true } }, 'listen=127.0.0.1:9000 backend_tls=insecure admin=off'],
  ])('mentions TLS when it is on (%j), never a key file', (section, start) => {
    const line = describeConfig(configSchema.parse({ writer: 'w:9000', ...section }));
    expect(line.startsWith(`${start} `)).toBe(true);
    expect(line).not.toContain('.pem');
  });

  it.each([
    [{ cacheTtl: '30' }, 'cache=memory(ttl=30s)'],
    [{ redis: 'redis://:hunter2@cache:6379' }, 'cache=redis(ttl=60s)'],
    [{ redis: 'redis://u:hunter2@cache:6379', cacheTtl: '5' }, 'cache=redis(ttl=5s)'],
  ])('names the cache store and TTL, never the Redis URL (%j)', (flags, part) => {
    const line = describeConfig(loadConfig({ flags: { writer: 'w:9000', ...flags }, env: {} }));
    expect(line.split(' ')).toContain(part);
    expect(line).not.toContain('hunter2');
    expect(line).not.toContain('cache:6379');
  });
});

describe('Redis URL passwords', () => {
  it.each([
    ['redis://:hunter2@cache:6379/0', 'redis://:***@cache:6379/0'],
    ['redis://app:hunter2@cache:6379', 'redis://app:***@cache:6379'],
    ['rediss://app:hunter2@[::1]:6380/3', 'rediss://app:***@[::1]:6380/3'],
    ['redis://:p%40ss%3Aword@cache:6379', 'redis://:***@cache:6379'],
    // A lone user part is often the password (redis://PASSWORD@host): masked too.
    ['redis://hunter2@cache:6379', 'redis://***@cache:6379'],
    ['redis://cache:6379?password=hunter2&db=1', 'redis://cache:6379?password=***&db=1'],
    ['redis://cache:6379/1', 'redis://cache:6379/1'],
    ['redis://cache', 'redis://cache'],
    ['not a url hunter2', '***'],
  ])('%s → %s', (url, masked) => {
    expect(redactRedisUrl(url)).toBe(masked);
  });

  it('are masked by redactConfig when given by --redis too (the file case is the test above)', () => {
    const cfg = loadConfig({ flags: { writer: 'w:9000', redis: 'redis://default:hunter2@cache:6379/1' }, env: {} });
    const red = redactConfig(cfg);
    expect(red.cache.redis.url).toBe('redis://default:***@cache:6379/1');
    expect(JSON.stringify(red)).not.toContain('hunter2');
    expect(cfg.cache.redis.url).toBe('redis://default:hunter2@cache:6379/1'); // the original is untouched
  });

  it('a url_env name stays (it is not a secret; its value never enters the configuration)', () => {
    const cfg = configSchema.parse({ writer: 'w:9000', cache: { enabled: true, redis: { url_env: 'REDIS_URL' } } });
    expect(redactConfig(cfg).cache).toEqual(cfg.cache);
    expect(cfg.cache.store).toBe('redis');
  });
});
