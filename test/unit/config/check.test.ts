/** `gatehouse check-config FILE`: the same loader as serve, the effective configuration as redacted YAML, exit 2. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { buildProgram } from '../../../bin/cli';
import { ConfigError, checkConfig, loadConfig, redactConfig } from '../../../src/config';

const GOOD = path.join(__dirname, 'fixtures', 'good.full.yaml');
const ENV = {
  GH_READ_PASSWORD: 'r-pass',
  GH_WRITE_PASSWORD: 'w-pass',
  GH_MIN_IDLE: '3',
  GH_APP_PASSWORD: 'app-secret',
  GH_APP_READ_PASSWORD: 'ar-pass',
  GH_REDIS_PASSWORD: 'redis-pass',
};
const SECRETS = ['r-pass', 'w-pass', 'ar-pass', 'redis-pass', '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b'];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-check-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function yamlFile(name: string, yaml: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, yaml);
  return file;
}

function loadError(file: string, env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig({ file, flags: {}, env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('checkConfig', () => {
  it('prints the effective configuration as YAML: defaults applied, every secret masked', () => {
    const result = checkConfig(GOOD, ENV);
    if (result.exitCode !== 0) throw new Error(`expected success, got ${JSON.stringify(result)}`);
    expect(result.stdout.split('\n').slice(0, 2)).toEqual([
      `# ${GOOD}: valid. The effective configuration (defaults applied; passwords, password hashes and Redis URL`,
      '# passwords shown as ***):',
    ]);
    const printed: unknown = parse(result.stdout);
    // Exactly what serve would run with, through redactConfig (JSON drops the keys YAML leaves out: undefined ones).
    expect(printed).toEqual(JSON.parse(JSON.stringify(redactConfig(loadConfig({ file: GOOD, flags: {}, env: ENV })))));
    expect(printed).toMatchObject({
      read_user: { name: 'gh_reader', password: '***' },
      cache: { redis: { url: 'redis://:***@redis-1:6379/2' } },
      tls: { key_file: '/etc/gatehouse/tls/server.key' }, // a path is not a secret
      health: { interval_ms: 500, timeout_ms: 250 },
      login_limit: { max_failures: 3 },
    });
    for (const s of SECRETS) expect(result.stdout).not.toContain(s);
  });

  it('fills in defaults the file leaves out', () => {
    const result = checkConfig(yamlFile('minimal.yaml', 'writer: "ch:9000"\n'), {});
    if (result.exitCode !== 0) throw new Error(`expected success, got ${JSON.stringify(result)}`);
    expect(parse(result.stdout)).toMatchObject({
      listen: '127.0.0.1:9000',
      pool: { mode: 'query', max_size: null },
      cache: { enabled: false, store: 'memory' },
      lifecycle: { workers: 'auto', shutdown_timeout_ms: 30000 },
      allow_insecure_listen: false,
    });
  });

  it('never opens TLS files: a key file that does not exist here still checks (serve reads it at start)', () => {
    const key = path.join(dir, 'no-such-dir', 'server.key');
    const file = yamlFile('tls.yaml', `writer: "ch:9000"\ntls: { cert_file: "${key}.crt", key_file: "${key}" }\n`);
    const result = checkConfig(file, {});
    expect(result.exitCode).toBe(0);
  });

  it.each([
    ['an unset variable', 'writer: "${GH_NOT_SET}:9000"\n'],
    ['schema errors, all at once', 'writer: "ch"\npool: { mode: x }\nlisten: "0.0.0.0:9000"\n'],
    ['a YAML syntax error', 'writer: [\n'],
  ])('refuses %s with exit 2 and the message serve prints', (_, yaml) => {
    const file = yamlFile(`bad-${Math.random().toString(36).slice(2)}.yaml`, yaml);
    const result = checkConfig(file, {});
    expect(result).toEqual({ exitCode: 2, stderr: `gatehouse: invalid configuration\n${loadError(file, {}).message}\n` });
  });

  it('lists every issue of a bad file, one a line with its path', () => {
    const file = yamlFile('many.yaml', 'writer: "ch"\npool: { mode: x }\n');
    const result = checkConfig(file, {});
    expect(result.exitCode === 2 && result.stderr).toBe(
      ['gatehouse: invalid configuration', 'writer: expected HOST:PORT, got "ch"', 'pool.mode: expected one of query | session, got "x"', ''].join(
        '\n',
      ),
    );
    // Rules across sections are checked once every value is valid, and then all reported too.
    const exposed = checkConfig(yamlFile('exposed.yaml', 'writer: "ch:9000"\nlisten: "0.0.0.0:9000"\n'), {});
    expect(exposed.exitCode === 2 && exposed.stderr).toBe(
      [
        'gatehouse: invalid configuration',
        'listen: 0.0.0.0 is not a loopback address: serve it with tls (tls.require: true) or set allow_insecure_listen: true',
        'users: a listener on a non-loopback address needs proxy users (or allow_insecure_listen: true)',
        '',
      ].join('\n'),
    );
  });

  it('names an unreadable file without reading anything else', () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(checkConfig(missing, {})).toEqual({
      exitCode: 2,
      stderr: `gatehouse: invalid configuration\n${missing}: cannot read the file (ENOENT)\n`,
    });
  });
});

describe('the check-config command', () => {
  const command = () => buildProgram().commands.find((c) => c.name() === 'check-config')!;

  it('takes one file and none of serve\'s flags', () => {
    const cmd = command();
    expect(cmd.registeredArguments.map((a) => [a.name(), a.required, a.variadic])).toEqual([['file', true, false]]);
    expect(cmd.options).toEqual([]);
  });

  it.each([
    [['check-config', '--listen', '0.0.0.0:9000', 'f.yaml'], "error: unknown option '--listen'"],
    [['check-config'], "error: missing required argument 'file'"],
    [['check-config', 'a.yaml', 'b.yaml'], 'error: too many arguments'],
  ])('refuses %j', async (argv, message) => {
    const program = buildProgram();
    let stderr = '';
    for (const c of [program, ...program.commands]) {
      c.exitOverride().configureOutput({ writeErr: (s) => (stderr += s), writeOut: () => undefined });
    }
    await expect(program.parseAsync(argv, { from: 'user' })).rejects.toThrow();
    expect(stderr).toContain(message);
  });
});
