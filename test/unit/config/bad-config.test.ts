/** Each fixtures/bad.*.yaml is paired with the exact error it must produce (chproxy's TestBadConfig, in our form). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config';

const FIXTURES = path.join(__dirname, 'fixtures');

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
    'users.0.password: environment variable APP_PASSWORD is not set',
    'users.0.password: environment variable APP_SUFFIX is not set',
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
    'users.0: set exactly one of password, password_sha256_hex',
    'users.1: set exactly one of password, password_sha256_hex',
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
