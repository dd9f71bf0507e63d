/** Every file in examples/ is a configuration serve accepts, with its secrets from a (fake) environment. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkConfig, describeConfig, loadConfig, redactConfig } from '../../../src/config';

const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples');

/** What an operator's EnvironmentFile would hold; values distinctive enough to search for in output. */
const ENV = {
  GATEHOUSE_APP_PASSWORD: 'app-secret-5b1f',
  GATEHOUSE_ETL_PASSWORD: 'etl-secret-77c2',
  CH_READER_PASSWORD: 'reader-secret-0a9e',
  CH_WRITER_PASSWORD: 'writer-secret-e41d',
  GATEHOUSE_REDIS_URL: 'redis://:redis-secret-93d0@redis.internal:6379/0',
};
const SECRETS = ['app-secret-5b1f', 'etl-secret-77c2', 'reader-secret-0a9e', 'writer-secret-e41d', 'redis-secret-93d0'];

const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();

it('has the documented examples (and nothing in examples/ escapes this test)', () => {
  expect(files).toEqual(['redis-cache.yaml', 'several-clusters.yaml', 'single-server.yaml', 'tls.yaml', 'writer-readers.yaml']);
  expect(fs.readdirSync(EXAMPLES).sort()).toEqual(files);
});

describe.each(files)('examples/%s', (name) => {
  const file = path.join(EXAMPLES, name);

  it('loads as serve would load it', () => {
    expect(() => loadConfig({ file, flags: {}, env: ENV })).not.toThrow();
  });

  it('passes check-config, which shows no secret', () => {
    const result = checkConfig(file, ENV);
    expect(result.exitCode).toBe(0);
    const out = result.exitCode === 0 ? result.stdout : '';
    for (const s of SECRETS) expect(out).not.toContain(s);
    expect(describeConfig(loadConfig({ file, flags: {}, env: ENV }))).not.toMatch(/secret/);
  });

  it('opens with comments that say what it is for', () => {
    const text = fs.readFileSync(file, 'utf8');
    const header = text.split('\n').filter((_, i, lines) => lines.slice(0, i + 1).every((l) => l.startsWith('#')));
    expect(header.length).toBeGreaterThanOrEqual(3);
  });

  it('holds no secret itself: backend passwords come from ${VAR}, user passwords from a variable or a hash', () => {
    const cfg = loadConfig({ file, flags: {}, env: ENV });
    const fromEnv: string[] = Object.values(ENV);
    for (const u of [cfg.read_user, cfg.write_user, ...cfg.users.flatMap((x) => [x.read_user, x.write_user])]) {
      if (u && u.password !== '') expect(fromEnv).toContain(u.password);
    }
    for (const u of cfg.users) expect(u.password).toBeUndefined(); // password_env or password_sha256_hex
    expect(cfg.cache.redis.url).toBeUndefined(); // url_env keeps a Redis password out of the file
  });
});

it('single-server.yaml needs no environment at all (the first thing an operator runs check-config on)', () => {
  expect(checkConfig(path.join(EXAMPLES, 'single-server.yaml'), {}).exitCode).toBe(0);
});

it('tls.yaml serves the network only because it has TLS and users', () => {
  const cfg = loadConfig({ file: path.join(EXAMPLES, 'tls.yaml'), flags: {}, env: ENV });
  expect(cfg.tls?.listen).toBe('0.0.0.0:9440');
  expect(cfg.allow_insecure_listen).toBe(false);
  expect(cfg.users.length).toBeGreaterThan(0);
});
