/** The issue-4 additions to the configuration: users' passwords, networks and limits; groups; health; routing. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  backendGroups,
  configSchema,
  loadConfig,
  parseCidr,
  resolveUserPassword,
  settingValueText,
  type GatehouseConfigInput,
} from '../../../src/config';
import { scalarKindAt } from '../../../src/config/schema-kind';
import { parseCidr as frontendParseCidr } from '../../../src/frontend/networks';

const HASH = '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b';
const IDS = 'read_user: { name: r }\nwrite_user: { name: w }\n';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-config-'));
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

const parse = (input: Partial<GatehouseConfigInput>) => configSchema.parse({ writer: 'w:9000', ...input });

describe('user passwords', () => {
  it('a plain password in a file is refused, even when --user replaces the users', () => {
    const file = yamlFile(`writer: "w:9000"\n${IDS}users:\n  - { name: app, password: pw }\n`);
    const err = errorOf(() => loadConfig({ file, flags: { user: ['app:pw'] }, env: {} }));
    expect(err.issues).toEqual([{ path: 'users.0.password', message: expect.stringMatching(/^a plain password is not allowed/) }]);
  });

  it('a plain password from --user is accepted', () => {
    const cfg = loadConfig({ flags: { writer: 'w:9000', user: ['app:pw'], readUser: 'r', writeUser: 'w' }, env: {} });
    expect(resolveUserPassword(cfg.users[0]!, {})).toEqual({ kind: 'plain', password: 'pw' });
  });

  it('password_env is read from the environment given to loadConfig and to resolveUserPassword', () => {
    const file = yamlFile(`writer: "w:9000"\n${IDS}users:\n  - { name: app, password_env: APP_PW }\n`);
    const cfg = loadConfig({ file, flags: {}, env: { APP_PW: 's3cret' } });
    expect(cfg.users[0]!.password_env).toBe('APP_PW');
    expect(resolveUserPassword(cfg.users[0]!, { APP_PW: 's3cret' })).toEqual({ kind: 'plain', password: 's3cret' });
    expect(resolveUserPassword(cfg.users[0]!, { APP_PW: '' })).toEqual({ kind: 'plain', password: '' });
    expect(() => resolveUserPassword(cfg.users[0]!, {})).toThrow(
      'users: environment variable APP_PW (password of user "app") is not set',
    );
    expect(errorOf(() => loadConfig({ file, flags: {}, env: {} })).message).toBe(
      'users.0.password_env: environment variable APP_PW is not set',
    );
  });

  it('a hash is given back in lower case', () => {
    const u = parse({ users: [{ name: 'a', password_sha256_hex: HASH.toUpperCase() }], read_user: { name: 'r' }, write_user: { name: 'w' } }).users[0]!;
    expect(resolveUserPassword(u, {})).toEqual({ kind: 'sha256', sha256Hex: HASH });
  });
});

describe('users: identities, settings, limits', () => {
  it('global identities are not needed when every user has its own', () => {
    const own = { read_user: { name: 'ur' }, write_user: { name: 'uw', password: 'x' } };
    const cfg = parse({ users: [{ name: 'a', password_sha256_hex: HASH, ...own }] });
    expect(cfg.users[0]).toMatchObject({ read_user: { name: 'ur', password: '' }, write_user: { name: 'uw', password: 'x' } });
    const err = configSchema.safeParse({ writer: 'w:9000', users: [{ name: 'a', password_sha256_hex: HASH, read_user: { name: 'ur' } }] });
    expect(err.success ? [] : err.error.issues.map((i) => i.path.join('.'))).toEqual(['write_user']);
  });

  it('defaults: no limits, no queue, 5 s queue wait, no settings, any network', () => {
    const u = parse({ users: [{ name: 'a', password_sha256_hex: HASH }], read_user: { name: 'r' }, write_user: { name: 'w' } }).users[0]!;
    expect(u).toEqual({ name: 'a', password_sha256_hex: HASH, readonly: false, settings: {}, queue_size: 0, queue_timeout_ms: 5000 });
  });

  it.each([
    ['max_execution_time', 30, '30'],
    ['max_memory_usage', 1e10, '10000000000'],
    ['some_ratio', 0.5, '0.5'],
    ['use_uncompressed_cache', true, '1'],
    ['use_uncompressed_cache', false, '0'],
    ['load_balancing', 'nearest_hostname', 'nearest_hostname'],
  ] as const)('setting %s: %j travels as %j', (_name, value, text) => {
    expect(settingValueText(value)).toBe(text);
  });
});

describe('networks', () => {
  it.each([
    ['10.0.0.0/8', { address: '10.0.0.0', prefix: 8, family: 4 }],
    ['192.168.1.7', { address: '192.168.1.7', prefix: 32, family: 4 }],
    ['0.0.0.0/0', { address: '0.0.0.0', prefix: 0, family: 4 }],
    ['::1', { address: '::1', prefix: 128, family: 6 }],
    ['fe80::/10', { address: 'fe80::', prefix: 10, family: 6 }],
    ['::/0', { address: '::', prefix: 0, family: 6 }],
  ])('%s parses', (s, expected) => {
    expect(parseCidr(s)).toEqual(expected);
  });

  it.each(['', '10.0.0.0/33', '10.0.0/8', '01.2.3.4', '1.2.3.4/', '1.2.3.4/-1', '::1/129', 'fe80::1%eth0', 'host', '1.2.3.4/8/8', '1.2.3.4/ 8'])(
    '%j is refused',
    (s) => {
      expect(parseCidr(s)).toBeUndefined();
    },
  );

  it('accepts exactly what the frontend matcher accepts', () => {
    const all = ['10.0.0.0/8', '1.2.3.4/008', '::ffff:10.0.0.0/104', '2001:db8::1/64', '01.2.3.4', '10.0.0.0/33', 'fe80::1%eth0', ' 1.2.3.4', 'x'];
    const frontendAccepts = (s: string): boolean => {
      try {
        frontendParseCidr(s);
        return true;
      } catch {
        return false;
      }
    };
    expect(all.map((s) => parseCidr(s) !== undefined)).toEqual(all.map(frontendAccepts));
  });
});

describe('readers and groups', () => {
  it('a reader is "HOST:PORT" or a mapping; names come from the group and position unless given', () => {
    const cfg = parse({
      readers: ['a:1', { address: 'b:1', weight: 5 }, { address: 'c:1', name: 'east' }],
      groups: { analytics: { writer: 'aw:1', readers: ['ar:1', { address: 'ar:2', weight: 2, name: 'big' }] }, empty: { writer: 'e:1' } },
    });
    expect(backendGroups(cfg)).toEqual([
      {
        name: 'default',
        writer: { name: 'writer', address: 'w:9000', weight: 1 },
        readers: [
          { name: 'reader1', address: 'a:1', weight: 1 },
          { name: 'reader2', address: 'b:1', weight: 5 },
          { name: 'east', address: 'c:1', weight: 1 },
        ],
      },
      {
        name: 'analytics',
        writer: { name: 'analytics.writer', address: 'aw:1', weight: 1 },
        readers: [
          { name: 'analytics.reader1', address: 'ar:1', weight: 1 },
          { name: 'big', address: 'ar:2', weight: 2 },
        ],
      },
      { name: 'empty', writer: { name: 'empty.writer', address: 'e:1', weight: 1 }, readers: [] },
    ]);
  });
});

describe('health and routing', () => {
  it('accept rules with every kind of match and action', () => {
    const cfg = parse({
      groups: { logs: { writer: 'l:1' } },
      routing: {
        rules: [
          { settings: { max_threads: 2 } },
          { match: { kind: 'read', pattern: '^SELECT .* FROM system\\.' }, target: 'writer' },
          { match: { user: 'etl', database: 'logs' }, target: 'logs' },
          { match: { kind: 'unknown' }, deny: 'not understood' },
          { target: 'readers' },
        ],
      },
    });
    expect(cfg.routing.rules[0]).toEqual({ match: {}, settings: { max_threads: 2 } });
    expect(cfg.routing.rules).toHaveLength(5);
  });
});

describe('scalarKindAt over the new sections', () => {
  it.each([
    [['readers', 0, 'weight'], 'number'],
    [['readers', 0, 'address'], 'other'],
    [['readers', 0], 'other'],
    [['groups', 'eu', 'readers', 1, 'weight'], 'number'],
    [['groups', 'eu', 'writer'], 'other'],
    [['health', 'max_replica_delay_s'], 'number'],
    [['routing', 'reads_fallback_to_writer'], 'boolean'],
    [['routing', 'rules', 0, 'settings', 'max_threads'], 'other'],
    [['users', 0, 'settings', 'max_threads'], 'other'],
    [['users', 0, 'queue_size'], 'number'],
    [['users', 0, 'read_user', 'password'], 'other'],
    [['users', 0, 'networks', 0], 'other'],
  ] as const)('%j is %s', (p, kind) => {
    expect(scalarKindAt(p)).toBe(kind);
  });
});
