/** Issue 3's command-line contract: `gatehouse serve` start-up, bad configuration, and `npm run demo`'s command. */
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, query, runClient, startClickHouse, errorCodeOf } from '../helpers';
import { GATEHOUSE_CLI, startGatehouse } from '../helpers/gatehouse';

function run(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [GATEHOUSE_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

describe('gatehouse serve: start-up and configuration', () => {
  it('exits non-zero with every problem named when the configuration is bad', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'writer: "nowhere"\nreaders: ["127.0.0.1:70000"]\npool:\n  mode: sometimes\nbogus_key: 1\n');
      const res = await run(['serve', '--config', file]);
      expect(res.code).not.toBe(0);
      expect(res.out).toContain('invalid configuration');
      expect(res.out).toContain('writer: expected HOST:PORT, got "nowhere"');
      expect(res.out).toContain('readers.0');
      expect(res.out).toContain('pool.mode');
      expect(res.out).toContain('bogus_key');
      const missing = await run(['serve', '--listen', '127.0.0.1:0']);
      expect(missing.code).not.toBe(0);
      expect(missing.out).toContain('writer');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unreachable backend is not a start-up error: queries get 210, and work once it is up', async () => {
    const port = await freePort();
    const gh = await startGatehouse(['--writer', `127.0.0.1:${port}`]);
    try {
      expect(gh.output()).toMatch(/Gatehouse listening on 127\.0\.0\.1:\d+/);
      const down = await runClient(gh.port, ['--query', 'SELECT 1']);
      expect(errorCodeOf(down.stderr)).toBe(210);
      expect(down.stderr).toContain('Gatehouse');
      const ch = await startClickHouse({ name: 'late', tcpPort: port });
      try {
        expect(await query(gh.port, 'SELECT 1')).toBe('1\n');
      } finally {
        await ch.stop();
      }
    } finally {
      await gh.stop();
    }
  });

  it('`gatehouse demo` starts the sandbox cluster with the proxy in front, prints how to connect, and Ctrl+C stops all', async () => {
    const p = spawn(process.execPath, [GATEHOUSE_CLI, 'demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no banner:\n${out}`)), 20_000);
      p.stdout.on('data', () => {
        const m = /clickhouse-client --port (\d+) --user demo --password demo\n/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
    });
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    try {
      const node = await query(port, 'SELECT name FROM gatehouse_meta.node', { name: 'demo', password: 'demo' });
      expect(['reader1\n', 'reader2\n']).toContain(node);
    } finally {
      p.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    // Everything it started is gone: the port is closed.
    const after = await runClient(port, ['--user', 'demo', '--password', 'demo', '--query', 'SELECT 1'], undefined, 5_000);
    expect(after.code).not.toBe(0);
  });
});
