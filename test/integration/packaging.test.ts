/**
 * The npm package as an operator gets it: `npm pack` (prepack builds dist/), a global install of the tarball into a
 * temporary prefix (dependencies from the registry, the lz4 addon compiled from source), then the installed command
 * run from outside the repository, so nothing can resolve from this checkout's node_modules.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runProcess, type RunResult } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

/** This environment without npm's own variables: a surrounding `npm test` must not steer the nested npm runs. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return { ...env, ...extra };
}

/** The output of a run, for failure messages. */
const shown = (r: RunResult): string => `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n${r.stdout}\n${r.stderr}`;

let dir: string;
let prefix: string;
let installed: string;
let tarballFiles: string[];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-pack-'));
  prefix = path.join(dir, 'prefix');
  const packed = await runProcess('npm-pack', 'npm', ['pack', '--pack-destination', dir], {
    cwd: ROOT,
    env: cleanEnv(),
    timeoutMs: 90_000,
  });
  if (packed.code !== 0) throw new Error(`npm pack failed: ${shown(packed)}`);
  const tarball = path.join(dir, `${pkg.name}-${pkg.version}.tgz`);
  const listed = await runProcess('tar', 'tar', ['-tzf', tarball]);
  if (listed.code !== 0) throw new Error(`tar -tzf failed: ${shown(listed)}`);
  tarballFiles = listed.stdout.split('\n').filter((l) => l !== '').map((l) => l.replace(/^package\//, ''));
  // --allow-scripts: npm 11 runs a dependency's install script (lz4's node-gyp build) only when allowed.
  const install = await runProcess(
    'npm-install',
    'npm',
    ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--allow-scripts=lz4', tarball],
    { cwd: dir, env: cleanEnv(), timeoutMs: 150_000 },
  );
  if (install.code !== 0) throw new Error(`npm install -g failed: ${shown(install)}`);
  installed = path.join(prefix, 'lib', 'node_modules', pkg.name);
}, 240_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the installed command from the installed package's directory. */
function gatehouse(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runProcess('gatehouse', path.join(prefix, 'bin', 'gatehouse'), args, { cwd: installed, env: cleanEnv(env), timeoutMs: 30_000 });
}

describe('the tarball', () => {
  it('holds the built command, docs, examples, the systemd unit and the dashboard', () => {
    const expected = [
      'package.json',
      'README.md',
      'bin/gatehouse.js',
      'dist/bin/cli.js',
      'dist/src/serve.js',
      'dist/src/config/check.js',
      'deploy/gatehouse.service',
      ...fs.readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`),
      ...fs.readdirSync(path.join(ROOT, 'examples')).map((f) => `examples/${f}`),
      ...(fs.existsSync(path.join(ROOT, 'grafana')) ? fs.readdirSync(path.join(ROOT, 'grafana')).map((f) => `grafana/${f}`) : []),
    ];
    expect(expected.filter((f) => !tarballFiles.includes(f))).toEqual([]);
  });

  it('holds no sources, tests, benchmarks, scripts or source maps', () => {
    const stray = tarballFiles.filter(
      (f) => /^(src|test|benchmarks|scripts|node_modules|dist\/benchmarks|dist\/test)\//.test(f) || /\.(map|ts)$/.test(f),
    );
    expect(stray).toEqual([]);
  });
});

describe('the installed command', () => {
  it('prints the package version', async () => {
    const r = await gatehouse(['--version']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `${pkg.version}\n` });
  });

  it('checks examples/single-server.yaml and prints the effective configuration', async () => {
    const r = await gatehouse(['check-config', 'examples/single-server.yaml']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('# examples/single-server.yaml: valid.');
    expect(r.stdout).toContain('\nwriter: clickhouse.internal:9000\n');
    expect(r.stdout).toContain('\nlifecycle:\n  workers: auto\n'); // a default the file does not mention
  });

  it('checks an example whose secrets come from the environment, and shows none of them', async () => {
    const secrets = {
      GATEHOUSE_APP_PASSWORD: 'app-secret-5b1f',
      CH_READER_PASSWORD: 'reader-secret-0a9e',
      CH_WRITER_PASSWORD: 'writer-secret-e41d',
    };
    const r = await gatehouse(['check-config', 'examples/writer-readers.yaml'], secrets);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('name: gh_reader\n  password: "***"');
    for (const s of Object.values(secrets)) expect(r.stdout + r.stderr).not.toContain(s);
  });

  it('exits 2 listing the problems of a bad file, as serve does', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'listen: "0.0.0.0:9000"\npool: { mode: sometimes }\n');
    const r = await gatehouse(['check-config', bad]);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 2,
      stdout: '',
      stderr: 'gatehouse: invalid configuration\nwriter: required\npool.mode: expected one of query | session, got "sometimes"\n',
    });
    const serve = await gatehouse(['serve', '--config', bad]);
    expect({ code: serve.code, stderr: serve.stderr }).toEqual({ code: 2, stderr: r.stderr });
  });

  it('refuses serve flags on check-config', async () => {
    const r = await gatehouse(['check-config', '--listen', '0.0.0.0:9000', 'examples/single-server.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown option '--listen'");
  });

  // lz4's registry tarball carries a build/Release/lz4.node that is not a Linux binary: it loads only once the
  // install script has compiled it here.
  it('has the lz4 addon built for this Node', async () => {
    const script = "require(require.resolve('lz4/build/Release/lz4.node', { paths: [process.cwd()] })); console.log('ok')";
    const r = await runProcess('node', process.execPath, ['-e', script], { cwd: installed, env: cleanEnv() });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: 'ok\n' });
  });
});
