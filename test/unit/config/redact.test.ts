import * as path from 'node:path';
import { describeConfig, loadConfig, redactConfig } from '../../../src/config';

const GOOD = path.join(__dirname, 'fixtures', 'good.full.yaml');
const SECRETS = ['secret', 'r-pass', 'w-pass', '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b'];

function load() {
  return loadConfig({ file: GOOD, flags: {}, env: { GH_READ_PASSWORD: 'r-pass', GH_WRITE_PASSWORD: 'w-pass', GH_MIN_IDLE: '1' } });
}

describe('redactConfig', () => {
  it('masks every password and password hash, and nothing else', () => {
    const cfg = load();
    const red = redactConfig(cfg);
    expect(red.users).toEqual([
      { name: 'app', password: '***', readonly: false },
      { name: 'dashboards', password_sha256_hex: '***', readonly: true },
    ]);
    expect(red.read_user).toEqual({ name: 'gh_reader', password: '***' });
    expect(red.write_user).toEqual({ name: 'gh_writer', password: '***' });
    expect({ ...red, users: cfg.users, read_user: cfg.read_user, write_user: cfg.write_user }).toEqual(cfg);
    const text = JSON.stringify(red);
    for (const s of SECRETS) expect(text).not.toContain(s);
  });

  it('does not change the configuration it was given', () => {
    const cfg = load();
    const before = JSON.stringify(cfg);
    redactConfig(cfg);
    expect(JSON.stringify(cfg)).toBe(before);
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
      'listen=0.0.0.0:9000 admin=127.0.0.1:9363 writer=ch-writer:9000 readers=[ch-reader-1:9000,[::1]:9001] ' +
        'users=app,dashboards(readonly) read_user=gh_reader write_user=gh_writer pool=session(min_idle=1,max_size=20) ' +
        'streaming=buffer limits=max_string_bytes=1048576,max_columns=1000 log_level=debug',
    );
    for (const s of SECRETS) expect(line).not.toContain(s);
  });

  it('describes the defaults', () => {
    expect(describeConfig(loadConfig({ flags: { writer: 'w:9000' }, env: {} }))).toBe(
      'listen=127.0.0.1:9000 admin=off writer=w:9000 readers=[] users=(pass-through) read_user=- write_user=- ' +
        'pool=query(min_idle=1,max_size=auto) streaming=stream log_level=info',
    );
  });
});
