import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig, type GatehouseConfig, type FlagValues } from '../../../src/config';

const GOOD = path.join(__dirname, 'fixtures', 'good.full.yaml');
const GOOD_ENV = {
  GH_READ_PASSWORD: 'r-pass',
  GH_WRITE_PASSWORD: 'w-pass',
  GH_MIN_IDLE: '3',
  GH_APP_PASSWORD: 'secret',
  GH_APP_READ_PASSWORD: 'ar-pass',
  GH_REDIS_PASSWORD: 'redis-pass',
};
/** What a user without limits or settings gets. */
const USER_DEFAULTS = { readonly: false, settings: {}, queue_size: 0, queue_timeout_ms: 5000 } as const;
/** The cache section when the file has none. */
const CACHE_DEFAULTS: GatehouseConfig['cache'] = {
  enabled: false,
  store: 'memory',
  ttl_seconds: 60,
  soft_ttl_seconds: null,
  max_entry_bytes: 8388608,
  max_bytes: 268435456,
  lock_timeout_ms: 30000,
  redis: { cluster: false, nodes: [], tls: false, prefix: 'gatehouse:', command_timeout_ms: 250, feed_read_mark_ms: 5000 },
  rules: [],
};
const HEALTH_DEFAULTS = {
  interval_ms: 2000,
  timeout_ms: 1000,
  failures_to_ban: 3,
  ban_ms: 5000,
  max_ban_ms: 60000,
  max_replica_delay_s: null,
  replica_delay_query: 'SELECT max(absolute_delay) FROM system.replicas',
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-config-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes `yaml` to a fresh file and returns its path. */
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

describe('defaults', () => {
  it('fills every default from the schema when only the writer is given', () => {
    const cfg = loadConfig({ flags: { writer: '10.0.0.1:9000' }, env: {} });
    const expected: GatehouseConfig = {
      listen: '127.0.0.1:9000',
      writer: '10.0.0.1:9000',
      readers: [],
      groups: {},
      health: HEALTH_DEFAULTS,
      routing: { retries: 1, reads_fallback_to_writer: true, read_after_write_ms: 0, rules: [] },
      users: [],
      pool: {
        mode: 'query',
        min_idle: 1,
        max_size: null,
        wait_timeout_ms: 5000,
        connect_timeout_ms: 5000,
        idle_check_ms: 30000,
        idle_timeout_ms: 300000,
        drain_timeout_ms: 5000,
        receive_timeout_ms: 300000,
      },
      streaming: { result_buffering: 'stream', buffer_max_bytes: 67108864, max_pending_client_bytes: 8388608, verify_checksums: false, max_paused_ms: 300000 },
      cache: CACHE_DEFAULTS,
      limits: {},
      log_level: 'info',
      backend_tls: { enabled: false, insecure_skip_verify: false },
      allow_insecure_listen: false,
      connections: { idle_timeout_ms: 3600000, receive_timeout_ms: 300000 },
      login_limit: { max_failures: 5, window_ms: 60000, block_ms: 60000 },
      lifecycle: { workers: 'auto', shutdown_timeout_ms: 30000 },
    };
    expect(cfg).toEqual(expected);
  });

  it('treats an empty file as {}', () => {
    expect(loadConfig({ file: yamlFile(''), flags: { writer: 'w:9000' }, env: {} }).listen).toBe('127.0.0.1:9000');
  });
});

describe('a full file', () => {
  it('loads every field', () => {
    const cfg = loadConfig({ file: GOOD, flags: {}, env: GOOD_ENV });
    expect(cfg).toEqual({
      listen: '0.0.0.0:9000',
      admin: '127.0.0.1:9363',
      writer: 'ch-writer:9000',
      readers: [
        { name: 'reader1', address: 'ch-reader-1:9000', weight: 1 },
        { name: 'r-local', address: '[::1]:9001', weight: 3 },
      ],
      groups: {
        analytics: {
          writer: 'an-writer:9000',
          readers: [
            { name: 'analytics.reader1', address: 'an-reader:9000', weight: 1 },
            { name: 'analytics.reader2', address: 'an-reader-2:9000', weight: 2 },
          ],
        },
      },
      health: {
        interval_ms: 500,
        timeout_ms: 250,
        failures_to_ban: 2,
        ban_ms: 1000,
        max_ban_ms: 30000,
        max_replica_delay_s: 1.5,
        replica_delay_query: 'SELECT 0',
      },
      routing: {
        retries: 2,
        reads_fallback_to_writer: false,
        read_after_write_ms: 2000,
        rules: [
          { match: { user: 'dashboards' }, settings: { max_execution_time: 30, use_uncompressed_cache: true } },
          { match: { kind: 'write', database: 'audit' }, deny: 'audit is append-only through the loader' },
          { match: { pattern: 'FROM events_\\w+' }, target: 'analytics' },
        ],
      },
      users: [
        {
          name: 'app',
          password_env: 'GH_APP_PASSWORD',
          readonly: false,
          networks: ['10.0.0.0/8', '::1/128', '192.168.1.7'],
          database: 'shop',
          read_user: { name: 'app_reader', password: 'ar-pass' },
          settings: { max_threads: 4, join_algorithm: 'hash' },
          max_connections: 50,
          max_concurrent_queries: 8,
          queue_size: 16,
          queue_timeout_ms: 2000,
          max_queries_per_second: 100,
          query_timeout_ms: 60000,
        },
        {
          name: 'dashboards',
          password_sha256_hex: '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b',
          ...USER_DEFAULTS,
          readonly: true,
        },
      ],
      read_user: { name: 'gh_reader', password: 'r-pass' },
      write_user: { name: 'gh_writer', password: 'w-pass' },
      pool: {
        mode: 'session',
        min_idle: 3,
        max_size: 20,
        wait_timeout_ms: 1000,
        connect_timeout_ms: 2000,
        idle_check_ms: 0,
        idle_timeout_ms: 60000,
        drain_timeout_ms: 250,
        receive_timeout_ms: 300000,
      },
      streaming: { result_buffering: 'buffer', buffer_max_bytes: 1048576, max_pending_client_bytes: 65536, verify_checksums: true, max_paused_ms: 120000 },
      cache: {
        enabled: true,
        store: 'redis',
        ttl_seconds: 120,
        soft_ttl_seconds: 90,
        max_entry_bytes: 1048576,
        max_bytes: 67108864,
        lock_timeout_ms: 5000,
        redis: { url: 'redis://:redis-pass@redis-1:6379/2', cluster: false, nodes: [], tls: false, prefix: 'gh:', command_timeout_ms: 100, feed_read_mark_ms: 5000 },
        rules: [
          { user: 'dashboards', cache: true, ttl_seconds: 600 },
          { database: 'audit', cache: false },
          { user: 'app', database: 'shop', pattern: 'FROM events_\\w+ WHERE ts > \\?', cache: true, ttl_seconds: 10 },
        ],
      },
      limits: { max_string_bytes: 1048576, max_columns: 1000 },
      log_level: 'debug',
      tls: {
        listen: '0.0.0.0:9440',
        cert_file: '/etc/gatehouse/tls/server.crt',
        key_file: '/etc/gatehouse/tls/server.key',
        ca_file: '/etc/gatehouse/tls/clients-ca.crt',
        require: true,
      },
      backend_tls: {
        enabled: true,
        ca_file: '/etc/gatehouse/tls/clickhouse-ca.crt',
        cert_file: '/etc/gatehouse/tls/proxy-client.crt',
        key_file: '/etc/gatehouse/tls/proxy-client.key',
        server_name: 'clickhouse.internal',
        insecure_skip_verify: false,
      },
      allow_insecure_listen: false,
      connections: { max: 2000, idle_timeout_ms: 3600000, receive_timeout_ms: 300000 },
      login_limit: { max_failures: 3, window_ms: 30000, block_ms: 120000 },
      lifecycle: { workers: 'auto', shutdown_timeout_ms: 20000 },
    });
  });

  it('is read from flags.config when no file is given', () => {
    expect(loadConfig({ flags: { config: GOOD }, env: GOOD_ENV }).writer).toBe('ch-writer:9000');
  });

  it('reports an unreadable file by name', () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(errorOf(() => loadConfig({ file: missing, flags: {}, env: {} })).message).toBe(
      `${missing}: cannot read the file (ENOENT)`,
    );
  });
});

describe('flags over the file', () => {
  const load = (flags: FlagValues): GatehouseConfig => loadConfig({ file: GOOD, flags, env: GOOD_ENV });

  it('replace scalar values', () => {
    const cfg = load({ listen: '127.0.0.1:9100', writer: 'other:9000', admin: '127.0.0.1:9999' });
    expect([cfg.listen, cfg.writer, cfg.admin]).toEqual(['127.0.0.1:9100', 'other:9000', '127.0.0.1:9999']);
    expect(cfg.pool.mode).toBe('session'); // untouched sections stay as in the file
  });

  it('replace whole lists (a repeated flag is the new list)', () => {
    const cfg = load({ reader: ['r1:9000', 'r2:9000'], user: ['alice:pw', 'bob:p:w:'] });
    expect(cfg.readers).toEqual([
      { name: 'reader1', address: 'r1:9000', weight: 1 },
      { name: 'reader2', address: 'r2:9000', weight: 1 },
    ]);
    expect(cfg.users).toEqual([
      { name: 'alice', password: 'pw', ...USER_DEFAULTS },
      { name: 'bob', password: 'p:w:', ...USER_DEFAULTS }, // only the first colon splits
    ]);
    expect(load({ reader: [] }).readers).toEqual([]);
  });

  it('parse backend identities with and without a password', () => {
    const cfg = load({ readUser: 'ro', writeUser: 'rw:s3:cret' });
    expect(cfg.read_user).toEqual({ name: 'ro', password: '' });
    expect(cfg.write_user).toEqual({ name: 'rw', password: 's3:cret' });
  });

  it('make a whole configuration without a file', () => {
    const cfg = loadConfig({
      flags: { writer: 'w:9000', reader: ['r:9000'], user: ['app:x'], readUser: 'ro:a', writeUser: 'rw:b' },
      env: {},
    });
    expect(cfg.users).toEqual([{ name: 'app', password: 'x', ...USER_DEFAULTS }]);
    expect(cfg.readers).toEqual([{ name: 'reader1', address: 'r:9000', weight: 1 }]);
  });

  it('are validated with the file, all issues at once, at the path they set', () => {
    const err = errorOf(() => load({ writer: 'nope', reader: ['ok:1', 'bad'], user: ['alice', ':pw'], readUser: ':x' }));
    expect(err.message).toBe(
      [
        'users.0: --user expects NAME:PASSWORD, got "alice"',
        'users.1: --user expects NAME:PASSWORD, the name is empty',
        'read_user: --read-user expects NAME[:PASSWORD], the name is empty',
        'writer: expected HOST:PORT, got "nope"',
        'readers.1: expected HOST:PORT, got "bad"',
      ].join('\n'),
    );
    expect(err.issues).toHaveLength(5);
  });
});

describe('${VAR} interpolation', () => {
  it('substitutes inside strings and keeps secrets verbatim, even with YAML syntax in them', () => {
    const file = yamlFile(
      [
        'writer: "${HOST}:${PORT}"',
        'read_user:',
        '  name: r',
        '  password: ${SECRET}',
        'write_user: { name: w, password: "${SECRET}" }',
      ].join('\n'),
    );
    const secret = 'a # b: [c] "d" ${NOT_EXPANDED_AGAIN}';
    const cfg = loadConfig({ file, flags: {}, env: { HOST: 'ch', PORT: '9000', SECRET: secret } });
    expect(cfg.writer).toBe('ch:9000');
    expect(cfg.read_user?.password).toBe(secret);
    expect(cfg.write_user?.password).toBe(secret);
  });

  it('gives a number or boolean where the schema wants one, quoted or not, and text everywhere else', () => {
    const file = yamlFile(
      [
        'writer: "w:${PORT}"',
        'read_user: { name: r, password: "${NUMERIC_SECRET}" }',
        'write_user:',
        '  name: w',
        '  password: ${BOOLEAN_SECRET}',
        'readers: [{ address: "r:9000", weight: "${N}" }]',
        'users:',
        '  - name: u',
        '    password_env: U_PASSWORD',
        '    database: ${NUMERIC_SECRET}',
        '    readonly: ${RO}',
        '    max_connections: ${N}',
        '    settings: { max_threads: "${N}", log_queries: "${RO}" }',
        'pool:',
        '  min_idle: ${N}',
        '  max_size: "${N}"',
        'limits: { max_columns: "${N}" }',
        'health: { max_replica_delay_s: "${N}" }',
        'routing: { reads_fallback_to_writer: "${RO}" }',
      ].join('\n'),
    );
    const env = { PORT: '9000', N: '4', NUMERIC_SECRET: '123', BOOLEAN_SECRET: 'true', RO: 'true', U_PASSWORD: 'p' };
    const cfg = loadConfig({ file, flags: {}, env });
    expect(cfg.writer).toBe('w:9000');
    expect([cfg.pool.min_idle, cfg.pool.max_size, cfg.limits.max_columns]).toEqual([4, 4, 4]);
    expect([cfg.readers[0]!.weight, cfg.users[0]!.max_connections, cfg.health.max_replica_delay_s]).toEqual([4, 4, 4]);
    expect(cfg.routing.reads_fallback_to_writer).toBe(true);
    // A setting may be text, a number or a boolean: what comes from the environment stays text.
    expect(cfg.users[0]!.settings).toEqual({ max_threads: '4', log_queries: 'true' });
    expect(cfg.users[0]).toMatchObject({ name: 'u', database: '123', readonly: true });
    expect(cfg.read_user?.password).toBe('123');
    expect(cfg.write_user?.password).toBe('true');
  });

  it('gives a number where a word or a number is wanted (workers: auto | N), and keeps the word', () => {
    const file = yamlFile('writer: "w:9000"\nlifecycle:\n  workers: ${W}\n');
    expect(loadConfig({ file, flags: {}, env: { W: '4' } }).lifecycle.workers).toBe(4);
    expect(loadConfig({ file, flags: {}, env: { W: 'auto' } }).lifecycle.workers).toBe('auto');
  });

  it('leaves a non-number where a number is wanted to the schema', () => {
    const file = yamlFile('writer: "w:9000"\npool:\n  min_idle: ${N}\n');
    expect(errorOf(() => loadConfig({ file, flags: {}, env: { N: 'three' } })).message).toBe(
      'pool.min_idle: expected number, got string',
    );
  });

  it('needs quotes inside flow collections, where { is YAML syntax', () => {
    const file = yamlFile('writer: "w:9000"\npool: { min_idle: ${N} }\n');
    expect(errorOf(() => loadConfig({ file, flags: {}, env: { N: '1' } })).issues[0]!.message).toBe(
      'Unexpected flow-map-start at node end',
    );
  });

  it('keeps an empty variable as "" (not null)', () => {
    const file = yamlFile('writer: "w:9000"\nread_user:\n  name: r\n  password: ${EMPTY}\nwrite_user: { name: w }\n');
    expect(loadConfig({ file, flags: {}, env: { EMPTY: '' } }).read_user?.password).toBe('');
  });

  it('writes $${ as a literal ${ and ignores comments', () => {
    const file = yamlFile('# password: ${COMMENTED_OUT}\nwriter: "w:9000"\nread_user: { name: r, password: "$${X}" }\nwrite_user: { name: w }\n');
    expect(loadConfig({ file, flags: {}, env: {} }).read_user?.password).toBe('${X}');
  });

  it('fails naming each unset variable, and says nothing more about that value', () => {
    const file = yamlFile('writer: "${WRITER_HOST}:9000"\nreaders: ["${R1}", "r:1"]\n');
    const err = errorOf(() => loadConfig({ file, flags: {}, env: { WRITER_HOST: 'w' } }));
    expect(err.issues).toEqual([{ path: 'readers.0', message: 'environment variable R1 is not set' }]);
  });

  it('uses process.env by default', () => {
    const file = yamlFile('writer: "${GATEHOUSE_TEST_WRITER}"\n');
    process.env.GATEHOUSE_TEST_WRITER = 'from-env:9000';
    try {
      expect(loadConfig({ file, flags: {} }).writer).toBe('from-env:9000');
    } finally {
      delete process.env.GATEHOUSE_TEST_WRITER;
    }
  });

  it('a flag fixes a value whose variable is unset only if it replaces the value (the unset variable is still an error)', () => {
    // Interpolation reads the file; flags come after. An unset variable is a broken file, whatever the flags say.
    const file = yamlFile('writer: "${NOPE}"\n');
    expect(errorOf(() => loadConfig({ file, flags: { writer: 'w:9000' }, env: {} })).message).toBe(
      'writer: environment variable NOPE is not set',
    );
  });
});

describe('ConfigError', () => {
  it('is an Error with a stable code and the issues', () => {
    const err = errorOf(() => loadConfig({ flags: {}, env: {} }));
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.issues).toEqual([{ path: 'writer', message: 'required' }]);
  });
});
