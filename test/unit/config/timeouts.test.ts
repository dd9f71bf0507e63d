/**
 * The receive and idle timeouts (issue 8): pool.receive_timeout_ms, connections.idle_timeout_ms and
 * connections.receive_timeout_ms — defaults (ClickHouse's receive_timeout and idle_connection_timeout), validation,
 * what the session gets, and which of them a reload applies.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config';
import { connectionTimeoutsOf, keysNeedingRestart } from '../../../src/serve-config';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-timeouts-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, `writer: "127.0.0.1:9000"\n${yaml}`);
  return loadConfig({ file, flags: {}, env: {} });
}

function errorOf(yaml: string): string {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

test('defaults are ClickHouse\'s: receive_timeout 300 s on both sides, idle_connection_timeout 3600 s', () => {
  const cfg = load('');
  expect(cfg.pool.receive_timeout_ms).toBe(300_000);
  expect(cfg.connections).toEqual({ idle_timeout_ms: 3_600_000, receive_timeout_ms: 300_000 });
  expect(connectionTimeoutsOf(cfg)).toEqual({ handshakeTimeoutMs: undefined, idleTimeoutMs: 3_600_000, clientReceiveTimeoutMs: 300_000 });
});

test('values given are kept; 0 (no limit) is allowed', () => {
  const cfg = load(
    ['pool: { receive_timeout_ms: 0 }', 'connections: { handshake_timeout_ms: 2000, idle_timeout_ms: 0, receive_timeout_ms: 1500 }'].join('\n'),
  );
  expect(cfg.pool.receive_timeout_ms).toBe(0);
  expect(connectionTimeoutsOf(cfg)).toEqual({ handshakeTimeoutMs: 2000, idleTimeoutMs: 0, clientReceiveTimeoutMs: 1500 });
});

test('bad values: every one reported with its path', () => {
  expect(
    errorOf(
      [
        'pool: { receive_timeout_ms: -1 }',
        'connections: { idle_timeout_ms: 1.5, receive_timeout_ms: 9999999999, idle_timout_ms: 5 }',
      ].join('\n'),
    ),
  ).toBe(
    [
      'pool.receive_timeout_ms: must be >= 0',
      'connections.idle_timeout_ms: expected integer, got float',
      'connections.receive_timeout_ms: must be <= 2147483647',
      'connections.idle_timout_ms: unknown key',
    ].join('\n'),
  );
  expect(errorOf('connections: { receive_timeout_ms: "5m" }')).toBe('connections.receive_timeout_ms: expected number, got string');
});

test('a reload applies the connections timeouts; other connections keys and pool.receive_timeout_ms need a restart', () => {
  const before = load('connections: { max: 10 }');
  const timeoutsOnly = load('connections: { max: 10, handshake_timeout_ms: 1000, idle_timeout_ms: 5000, receive_timeout_ms: 2000 }');
  expect(keysNeedingRestart(before, timeoutsOnly)).toEqual([]);
  expect(keysNeedingRestart(before, load('connections: { max: 11 }'))).toEqual(['connections']);
  expect(keysNeedingRestart(before, load('connections: { max: 10 }\npool: { receive_timeout_ms: 1000 }'))).toEqual(['pool']);
});
