/** Each fixtures/bad.*.yaml is paired with the exact error it must produce (chproxy's TestBadConfig, in our form). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config';

const FIXTURES = path.join(__dirname, 'fixtures');

const PLAIN =
  'a plain password is not allowed in a config file: set password_sha256_hex (echo -n PASSWORD | sha256sum) ' +
  'or password_env (the name of an environment variable holding it)';
const NETWORK = 'expected an IPv4 or IPv6 network (10.0.0.0/8, ::1/128) or address, got';
const NOT_LOOPBACK = 'is not a loopback address: serve it with tls (tls.require: true) or set allow_insecure_listen: true';
const NEEDS_USERS = 'a listener on a non-loopback address needs proxy users (or allow_insecure_listen: true)';

// {FILE} stands for the fixture's path.
const EXPECTED: Record<string, string> = {
  'bad.admin-same-as-listen.yaml': 'admin: must differ from listen (127.0.0.1:9000)',
  'bad.duplicate-key.yaml': '{FILE}:4:3: Map keys must be unique',
  'bad.duplicate-users.yaml': 'users.2.name: duplicate user name "app" (also users.0)',
  'bad.env-malformed.yaml': [
    'writer: malformed placeholder: write ${NAME} (letters, digits, _) or $${ for a literal',
    'read_user.password: malformed placeholder: write ${NAME} (letters, digits, _) or $${ for a literal',
  ].join('\n'),
  'bad.env-unset.yaml': [
    'writer: environment variable GH_WRITER_HOST is not set',
    'read_user.password: environment variable GH_READ_PASSWORD is not set',
    'write_user.password: environment variable GH_WRITE_PASSWORD is not set',
    'users.0.password_env: environment variable APP_PASSWORD is not set',
  ].join('\n'),
  'bad.half-identity.yaml': 'write_user: required when read_user is set',
  'bad.host-port.yaml': [
    'listen: expected HOST:PORT, got "localhost"',
    'admin: expected HOST:PORT, got ":9363"',
    'readers.1: expected HOST:PORT, got "x"',
    'readers.2: expected HOST:PORT, got "ch-reader:0"',
    'readers.3: expected HOST:PORT, got "ch-reader:65536"',
    'readers.4: expected HOST:PORT, got "::1:9000"',
    'readers.5: expected HOST:PORT, got "http://ch:9000"',
  ].join('\n'),
  'bad.limits.yaml': [
    'limits.max_columns: must be > 0',
    'limits.max_colums: unknown key',
    'limits.maxStringBytes: unknown key',
  ].join('\n'),
  'bad.many.yaml': [
    'listen: expected HOST:PORT, got "127.0.0.1"',
    'readers.1: expected HOST:PORT, got "bad"',
    'pool.min_idle: must be >= 0',
    'pool.colour: unknown key',
    'limits.max_depth: must be > 0',
    'log_level: expected one of trace | debug | info | warn | error | silent, got "verbose"',
  ].join('\n'),
  'bad.min-idle-above-max.yaml': 'pool.min_idle: must be <= pool.max_size (2)',
  'bad.missing-writer.yaml': 'writer: required',
  'bad.pool.yaml': [
    'pool.mode: expected one of query | session, got "transaction"',
    'pool.min_idle: must be >= 0',
    'pool.max_size: must be >= 1',
    'pool.wait_timeout_ms: must be >= 1',
    'pool.idle_timeout_ms: must be <= 2147483647',
    'pool.drain_timeout_ms: expected integer, got float',
  ].join('\n'),
  'bad.streaming.yaml': [
    'streaming.result_buffering: expected one of stream | buffer, got "memory"',
    'streaming.buffer_max_bytes: must be > 0',
  ].join('\n'),
  'bad.syntax.yaml':
    '{FILE}:3:1: Flow sequence in block collection must be sufficiently indented and end with a ]',
  'bad.top-level-list.yaml': '{FILE}: expected a mapping at the top level, got a list',
  'bad.types.yaml': [
    'listen: expected string, got number',
    'readers: expected array, got string',
    'pool: expected object, got string',
    'log_level: expected one of trace | debug | info | warn | error | silent, got "loud"',
  ].join('\n'),
  'bad.unknown-nested-key.yaml': ['pool.min_idel: unknown key', 'streaming.resultBuffering: unknown key'].join('\n'),
  'bad.unknown-top-key.yaml': 'listn: unknown key',
  'bad.user-hash.yaml': 'users.0.password_sha256_hex: expected 64 hex digits (SHA-256)',
  'bad.user-password.yaml': [
    `users.0.password: ${PLAIN}`,
    `users.3.password: ${PLAIN}`,
    'users.2.password_env: environment variable HASH_AND_ENV_PASSWORD is not set',
    'users.1: set exactly one of password_sha256_hex, password_env',
    'users.2: set exactly one of password_sha256_hex, password_env',
  ].join('\n'),
  'bad.readers.yaml': [
    'readers.1.weight: must be >= 1',
    'readers.2.address: expected HOST:PORT, got "nope"',
    'readers.3.wieght: unknown key',
    'readers.4.weight: expected number, got string',
    'readers.5: expected string or object, got number',
    'readers.6.address: required',
    'readers.7.name: expected letters, digits, _, . or -',
  ].join('\n'),
  'bad.groups.yaml': [
    'groups.default: "default" is reserved (default, writer, readers)',
    'groups.readers: "readers" is reserved (default, writer, readers)',
    'groups.two words: a group name has letters, digits, _, . or - only',
    'readers.1.name: duplicate backend name "reader1" (also readers.0)',
    'groups.us.readers.0.name: duplicate backend name "writer" (also writer)',
    'groups.eu.readers.0.name: duplicate backend name "us.reader2" (also groups.us.readers.1)',
  ].join('\n'),
  'bad.group-shape.yaml': [
    'groups.eu.writer: required',
    'groups.us.readers: expected array, got string',
    'groups.us.extra: unknown key',
    'groups.asia: expected object, got string',
  ].join('\n'),
  'bad.health.yaml': [
    'health.interval_ms: must be >= 1',
    'health.failures_to_ban: must be >= 1',
    'health.max_replica_delay_s: must be >= 0',
    'health.replica_delay_query: must not be empty',
    'health.interval: unknown key',
    'health.max_ban_ms: must be >= health.ban_ms (10000)',
  ].join('\n'),
  'bad.routing.yaml': [
    'routing.retries: must be >= 0',
    'routing.read_after_write_ms: expected integer, got float',
    'routing.rules.0.match.pattern: Invalid regular expression: /FROM (events/: Unterminated group',
    'routing.rules.1.match.kind: expected one of read | write | session | unknown, got "select"',
    'routing.rules.3: set exactly one of target, deny, settings (got target and deny)',
    'routing.rules.4.match.usr: unknown key',
    'routing.rules.4: set exactly one of target, deny, settings (got none)',
    'routing.rules.5.settings: must not be empty',
    'routing.rules.6.settings.max-threads: expected a setting name (letters, digits, _)',
    'routing.rules.6.settings.max_memory_usage: expected string or number or boolean, got object',
    'routing.rules.7: set exactly one of target, deny, settings (got target and settings)',
  ].join('\n'),
  'bad.rule-target.yaml': [
    'routing.rules.1.target: unknown target "nowhere": expected writer, readers or a group (analytics)',
    'routing.rules.2.target: unknown target "Writer": expected writer, readers or a group (analytics)',
  ].join('\n'),
  'bad.user-limits.yaml': [
    'users.0.password_env: expected an environment variable name (letters, digits, _)',
    `users.0.networks.0: ${NETWORK} "10.0.0.0/33"`,
    `users.0.networks.2: ${NETWORK} "fe80::1%eth0"`,
    `users.0.networks.4: ${NETWORK} "2001:db8::/129"`,
    `users.0.networks.5: ${NETWORK} "localhost"`,
    `users.0.networks.6: ${NETWORK} "10.0.0.0/8/8"`,
    'users.0.database: must not be empty',
    'users.0.max_connections: must be >= 1',
    'users.0.max_queries_per_second: must be > 0',
    'users.0.query_timeout_ms: must be >= 1',
    'users.0.queue_size: needs max_concurrent_queries (the queue holds queries waiting for one of those slots)',
    'users.1.networks: must not be empty (leave networks out to allow any address)',
    'users.1.settings.max_threads: expected string or number or boolean, got array',
    'users.1.queue_size: must be >= 0',
    'users.1.queue_timeout_ms: must be >= 1',
  ].join('\n'),
  'bad.cache.yaml': [
    'cache.enabled: expected boolean, got string',
    'cache.store: expected one of memory | redis, got "disk"',
    'cache.ttl_seconds: must be >= 1',
    'cache.soft_ttl_seconds: expected integer, got float',
    'cache.max_entry_bytes: must be > 0',
    'cache.lock_timeout_ms: must be >= 1',
    'cache.rules.0.pattern: Invalid regular expression: /FROM (events/: Unterminated group',
    'cache.rules.1.user: must not be empty',
    'cache.rules.2.ttl: unknown key',
    'cache.colour: unknown key',
  ].join('\n'),
  'bad.cache-cross.yaml': [
    'cache.rules.0: set at least one of user, database, pattern',
    'cache.rules.1.ttl_seconds: not used when cache is false',
    'cache.rules.2.ttl_seconds: must be <= 2147483647',
    'cache.redis.url: required when cache.store is redis (or set url_env, or cluster: true with nodes)',
    'cache.soft_ttl_seconds: must be < cache.ttl_seconds (30)',
    'cache.max_entry_bytes: must be <= cache.max_bytes (1000)',
  ].join('\n'),
  // The password in the URL is masked in the message.
  'bad.cache-redis.yaml': [
    'cache.redis.url: expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or rediss://… (TLS), got http://:***@cache:6379/',
    'cache.redis.url_env: expected an environment variable name (letters, digits, _)',
    'cache.redis.nodes.1: expected HOST:PORT, got "nope"',
    'cache.redis.prefix: must not contain { or } (keys carry their own hash tag)',
    'cache.redis.command_timeout_ms: must be >= 1',
    'cache.redis: set only one of url, url_env',
    'cache.redis.nodes: used only with cluster: true (a single server is given by url)',
  ].join('\n'),
  'bad.cache-cluster.yaml': [
    'cache.redis.url_env: environment variable REDIS_URL is not set',
    'cache.redis: with cluster: true the seeds are nodes: remove url / url_env',
    'cache.redis.nodes: must not be empty when cluster is true',
  ].join('\n'),
  'bad.tls.yaml': [
    'tls.listen: expected HOST:PORT, got "0.0.0.0"',
    'tls.cert_file: required',
    'tls.key_file: must not be empty',
    'tls.require: expected boolean, got string',
    'tls.ca: unknown key',
  ].join('\n'),
  'bad.tls-clash.yaml': 'tls.listen: must differ from admin (127.0.0.1:9363)',
  'bad.backend-tls.yaml': [
    'backend_tls.key_file: required when backend_tls.cert_file is set',
    'backend_tls.ca_file: not used when insecure_skip_verify is true (certificates are not verified)',
  ].join('\n'),
  'bad.backend-tls-off.yaml':
    'backend_tls.enabled: must be true when ca_file, server_name are set (backend connections are not encrypted otherwise)',
  'bad.ops.yaml': [
    'allow_insecure_listen: expected boolean, got string',
    'connections.max: must be >= 1',
    'login_limit.max_failures: must be >= 1',
    'login_limit.window_ms: must be >= 1',
    'login_limit.block: unknown key',
    'lifecycle.workers: expected "auto" or number, got string',
    'lifecycle.shutdown_timeout_ms: must be >= 0',
  ].join('\n'),
  'bad.exposure.yaml': [
    `listen: 0.0.0.0 ${NOT_LOOPBACK}`,
    `users: ${NEEDS_USERS}`,
  ].join('\n'),
  'bad.exposure-tls.yaml': [
    `listen: 127.example.com ${NOT_LOOPBACK}`,
    `users: ${NEEDS_USERS}`,
  ].join('\n'),
  'bad.users-without-identities.yaml': [
    'read_user: required when users are set (the proxy logs in to the backends as it)',
    'write_user: required when users are set (the proxy logs in to the backends as it)',
  ].join('\n'),
};

function loadError(file: string): ConfigError {
  try {
    loadConfig({ file, flags: {}, env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`${file} loaded without error`);
}

describe('bad configs', () => {
  const fixtures = fs.readdirSync(FIXTURES).filter((f) => f.startsWith('bad.')).sort();

  it('has an expected error for every fixture and a fixture for every expected error', () => {
    expect(fixtures).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(fixtures)('%s', (name) => {
    const file = path.join(FIXTURES, name);
    const err = loadError(file);
    expect(err.message).toBe(EXPECTED[name]!.split('{FILE}').join(file));
    expect(err.code).toBe('ERR_CONFIG');
    // issues and message say the same thing.
    expect(err.issues.map((i) => `${i.path}: ${i.message}`).join('\n')).toBe(err.message);
  });
});
