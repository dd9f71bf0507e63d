/**
 * Issue 6, `gatehouse serve --workers N`: worker processes share the listening port (Node's cluster module), the
 * primary's admin port sums their metrics and reports each one's status, a killed worker is replaced, SIGHUP reloads
 * every worker, SIGTERM stops them all with exit code 0.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROXY_MAX_REVISION, ServerCode } from '../../src/protocol';
import { errorCodeOf, runClient, startSandboxCluster, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { NativeClient } from '../helpers/native-client';
import { until } from '../helpers/poll';

let cluster: SandboxCluster;
let tmpDir: string;
let gh: Gatehouse;

interface WorkerStatus {
  pid: number;
  clients: number;
}

async function status(): Promise<Record<string, WorkerStatus>> {
  const res = await fetch(`http://127.0.0.1:${gh.adminPort}/status`);
  return ((await res.json()) as { workers: Record<string, WorkerStatus> }).workers;
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await gh.metrics();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.split(' ').at(-1));
  return sum;
}


beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-workers-'));
  cluster = await startSandboxCluster({ readers: 1 });
  const file = path.join(tmpDir, 'w.yaml');
  fs.writeFileSync(
    file,
    [
      `writer: "127.0.0.1:${cluster.writer.tcpPort}"`,
      `readers: ["127.0.0.1:${cluster.readers[0]!.tcpPort}"]`,
      'admin: "127.0.0.1:0"',
      'http:',
      '  listen: "127.0.0.1:0"',
      `  backend_ports: { writer: ${cluster.writer.httpPort}, reader1: ${cluster.readers[0]!.httpPort} }`,
    ].join('\n'),
  );
  gh = await startGatehouse(['--config', file, '--workers', '2'], 30_000);
}, 120_000);

afterAll(async () => {
  await gh?.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('gatehouse serve --workers 2', () => {
  it('both workers take connections on the one port, and the admin port sums their metrics', async () => {
    await until(async () => Object.keys(await status()).length === 2, 10_000, 'two workers reporting');
    const clients = await Promise.all(Array.from({ length: 12 }, () => NativeClient.open(gh.port)));
    try {
      for (const c of clients) c.hello(PROXY_MAX_REVISION);
      for (const c of clients) {
        expect((await c.next())?.code).toBe(ServerCode.Hello);
        c.addendumIfNeeded();
      }
      for (const c of clients) c.query('SELECT 1');
      for (const c of clients) expect((await c.untilEnd()).at(-1)!.code).toBe(ServerCode.EndOfStream);
      await until(async () => Object.values(await status()).every((w) => w.clients > 0), 5_000, 'clients on every worker');
      const perWorker = Object.values(await status()).map((w) => w.clients);
      expect(perWorker.reduce((a, b) => a + b, 0)).toBe(12);
      expect(await metric('gatehouse_queries_total', 'outcome="ok"')).toBeGreaterThanOrEqual(12);
    } finally {
      for (const c of clients) c.close();
    }
  }, 60_000);

  it('serves the HTTP port from the workers too', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`http://127.0.0.1:${gh.httpPort}/?query=${encodeURIComponent('SELECT name FROM gatehouse_meta.node')}`);
      expect([res.status, await res.text()]).toEqual([200, 'reader1\n']);
    }
  }, 30_000);

  it('replaces a killed worker and keeps serving; SIGHUP reloads every worker', async () => {
    const before = await status();
    const victim = Object.values(before)[0]!.pid;
    process.kill(victim, 'SIGKILL');
    await until(async () => {
      const pids = Object.values(await status()).map((w) => w.pid);
      return pids.length === 2 && !pids.includes(victim);
    }, 15_000, 'a replacement worker');
    for (let i = 0; i < 4; i++) {
      const res = await runClient(gh.port, ['--query', 'SELECT 1'], '');
      expect(errorCodeOf(res.stderr)).toBeNull();
      expect(res.stdout).toBe('1\n');
    }
    expect(gh.output()).toContain('worker exited: starting another');
    gh.process.signal('SIGHUP');
    await until(() => /"workers":2[^\n]*configuration reloaded/.test(gh.output()), 10_000, 'the reload line of the primary');
  }, 60_000);

  it('SIGTERM stops every worker and the primary with exit code 0', async () => {
    const pids = Object.values(await status()).map((w) => w.pid);
    gh.process.signal('SIGTERM');
    const exit = await gh.process.exited;
    expect(exit.code).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);
});
