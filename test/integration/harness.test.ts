/**
 * The real-server harness itself: the sandbox cluster, its users and markers, Redis, the Python driver, the CLI,
 * and that nothing outlives a test. Real servers only (ClickHouse 18.16.1, Redis 7 from Debian).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  canConnect,
  errorCodeOf,
  query,
  runClient,
  runPython,
  startRedis,
  startSandboxCluster,
  trackedProcesses,
  type RedisServer,
  type SandboxCluster,
} from '../helpers';
import { PID_DIR } from '../../src/sandbox';
import { startRelay } from '../helpers/relay';

const { sweep } = require('../helpers/global-teardown.js') as {
  sweep: (selfPid?: number, pidDir?: string) => number;
};

const ROOT = path.resolve(__dirname, '..', '..');

/** Running and not a zombie (an orphan killed after its parent died lingers as a zombie until init reaps it). */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Polls until `pid` is gone (a SIGKILL is delivered asynchronously). */
async function waitGone(pid: number, timeoutMs = 2_000): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
    if (!isAlive(pid)) return true;
  }
  return !isAlive(pid);
}

/** Sends inline commands ending with QUIT over a raw socket and returns everything Redis answered. */
function rawSession(port: number, commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    sock.setTimeout(5_000, () => sock.destroy(new Error('Redis session timed out')));
    sock.on('error', reject);
    sock.on('connect', () => sock.write([...commands, 'QUIT'].map((c) => `${c}\r\n`).join('')));
    sock.on('data', (c: Buffer) => (buf += c.toString('latin1')));
    sock.on('close', () => resolve(buf));
  });
}

/** Sends a RESP PING over a raw socket and returns the first reply line. */
function rawPing(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    sock.setTimeout(5_000, () => sock.destroy(new Error('PING timed out')));
    sock.on('error', reject);
    sock.on('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
    sock.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n');
      if (end >= 0) {
        sock.end();
        resolve(buf.slice(0, end));
      }
    });
  });
}

/** Polls until nothing accepts connections on the port (a killed multi-threaded server may linger briefly). */
async function waitPortClosed(port: number, timeoutMs = 3_000): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
    if (!(await canConnect(port, 200))) return true;
  }
  return false;
}

/** Spawns a node process (ts-node) and resolves with its first stdout line, parsed as JSON. */
function spawnNode(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ReturnType<typeof spawn>; firstLine: Promise<unknown> } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const firstLine = new Promise<unknown>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing: ${err}`)));
  });
  return { child, firstLine };
}

function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

describe('sandbox cluster', () => {
  let cluster: SandboxCluster;
  let startMs = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await startSandboxCluster();
    startMs = Date.now() - t0;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('starts one writer and two readers quickly, on distinct loopback ports', () => {
    expect(cluster.nodes.map((n) => n.name)).toEqual(['writer', 'reader1', 'reader2']);
    expect(cluster.writer).toBe(cluster.nodes[0]);
    expect(cluster.readers.map((n) => n.name)).toEqual(['reader1', 'reader2']);
    const ports = cluster.nodes.flatMap((n) => [n.tcpPort, n.httpPort]);
    expect(new Set(ports).size).toBe(6);
    expect(startMs).toBeLessThan(20_000);
    process.stdout.write(`sandbox cluster started in ${startMs} ms\n`);
  });

  it('each node names itself in gatehouse_meta.node, for every user (via clickhouse-client)', async () => {
    for (const node of cluster.nodes) {
      expect(await query(node.tcpPort, 'SELECT name FROM gatehouse_meta.node')).toBe(`${node.name}\n`);
      expect(await query(node.tcpPort, 'SELECT name FROM gatehouse_meta.node', cluster.users.reader)).toBe(`${node.name}\n`);
      expect(await query(node.tcpPort, 'SELECT name FROM gatehouse_meta.node', cluster.users.writer)).toBe(`${node.name}\n`);
    }
  });

  it('servers run 18.16.1 with UTC as their time zone', async () => {
    const out = await query(cluster.writer.tcpPort, 'SELECT version(), timezone()');
    expect(out).toBe('18.16.1\tEtc/UTC\n');
  });

  it('gh_reader cannot INSERT, CREATE or DROP (164 READONLY) but may set per-query settings', async () => {
    const port = cluster.readers[0].tcpPort;
    const reader = ['--user', cluster.users.reader.name, '--password', cluster.users.reader.password];
    const cases: [string, string][] = [
      ['INSERT INTO gatehouse_meta.node VALUES (\'x\')', 'Cannot insert into table in readonly mode'],
      ['CREATE TABLE default.t (a UInt8) ENGINE = Memory', 'Cannot create table in readonly mode'],
      ['CREATE DATABASE d', 'Cannot create database in readonly mode'],
      ['DROP TABLE gatehouse_meta.node', 'Cannot drop table in readonly mode'],
    ];
    for (const [sql, message] of cases) {
      const res = await runClient(port, [...reader, '--query', sql]);
      expect(res.code).toBe(164); // clickhouse-client exits with the error code (mod 256)
      expect(errorCodeOf(res.stderr)).toBe(164);
      expect(res.stderr).toContain(message);
    }
    // readonly=2: settings may change (the proxy forwards the client's settings on reads)
    expect(await query(port, "SELECT value FROM system.settings WHERE name = 'max_threads' SETTINGS max_threads = 3", cluster.users.reader)).toBe('3\n');
    // INSERT with data on stdin, the way a client streams rows
    const piped = await runClient(port, [...reader, '--query', 'INSERT INTO gatehouse_meta.node FORMAT TSV'], 'x\n');
    expect(errorCodeOf(piped.stderr)).toBe(164);
    expect(await query(port, 'SELECT count() FROM gatehouse_meta.node')).toBe('1\n');
  });

  it('gh_writer can CREATE, INSERT (data on stdin) and read back', async () => {
    const port = cluster.writer.tcpPort;
    const w = cluster.users.writer;
    await query(port, 'CREATE TABLE default.harness_w (n UInt32, s String) ENGINE = MergeTree ORDER BY n', w);
    await query(port, 'INSERT INTO default.harness_w FORMAT TSV', w, '1\tone\n2\ttwo\n3\tthree\n');
    expect(await query(port, 'SELECT sum(n), groupArray(s) FROM default.harness_w', w)).toBe("6\t['one','two','three']\n");
    // nodes are independent: the readers do not have the table
    const onReader = await runClient(cluster.readers[0].tcpPort, ['--query', 'SELECT 1 FROM default.harness_w']);
    expect(errorCodeOf(onReader.stderr)).toBe(60); // UNKNOWN_TABLE
  });

  it('a wrong password is refused with 193 WRONG_PASSWORD (18.16 predates 516 AUTHENTICATION_FAILED)', async () => {
    const res = await runClient(cluster.writer.tcpPort, ['--user', 'gh_writer', '--password', 'nope', '--query', 'SELECT 1']);
    expect(errorCodeOf(res.stderr)).toBe(193);
    expect(res.stderr).toContain('Wrong password for user gh_writer');
    const unknown = await runClient(cluster.writer.tcpPort, ['--user', 'nobody', '--query', 'SELECT 1']);
    expect(errorCodeOf(unknown.stderr)).toBe(192); // UNKNOWN_USER
  });

  it('python3-clickhouse-driver (Debian python) connects as gh_reader and sees display_name', async () => {
    const reader = cluster.readers[1];
    const res = await runPython(
      [
        'import json, os',
        'from clickhouse_driver import Client',
        "c = Client(host='127.0.0.1', port=int(os.environ['CH_PORT']), user=os.environ['CH_USER'], password=os.environ['CH_PASSWORD'])",
        "rows = c.execute('SELECT name FROM gatehouse_meta.node')",
        'info = c.connection.server_info',
        "print(json.dumps({'rows': rows, 'display_name': info.display_name, 'revision': info.revision}))",
      ].join('\n'),
      { CH_PORT: String(reader.tcpPort), CH_USER: cluster.users.reader.name, CH_PASSWORD: cluster.users.reader.password },
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ rows: [['reader2']], display_name: 'reader2', revision: 54412 });
  });

  it('restart() brings a node back on the same ports with its marker', async () => {
    const node = cluster.readers[0];
    const before = { pid: node.pid, tcp: node.tcpPort };
    await node.restart();
    expect(node.pid).not.toBe(before.pid);
    expect(isAlive(before.pid)).toBe(false);
    expect(node.tcpPort).toBe(before.tcp);
    expect(await query(node.tcpPort, 'SELECT name FROM gatehouse_meta.node')).toBe('reader1\n');
  });

  it('stop() kills every process, closes the ports and removes the dirs', async () => {
    const nodes = cluster.nodes.map((n) => ({ pid: n.pid, tcp: n.tcpPort, http: n.httpPort, dir: n.dir }));
    const t0 = Date.now();
    await cluster.stop();
    const stopMs = Date.now() - t0;
    process.stdout.write(`sandbox cluster stopped in ${stopMs} ms\n`);
    for (const n of nodes) {
      expect(isAlive(n.pid)).toBe(false);
      expect(await canConnect(n.tcp, 500)).toBe(false);
      expect(await canConnect(n.http, 500)).toBe(false);
      expect(fs.existsSync(n.dir)).toBe(false);
      expect(fs.existsSync(path.join(PID_DIR, `${n.pid}.json`))).toBe(false);
    }
    await cluster.stop(); // idempotent
  });
});

describe('redis', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('answers PING on a raw socket, has no persistence, and stops cleanly', async () => {
    expect(await rawPing(redis.port)).toBe('+PONG');
    const config = await rawSession(redis.port, ['CONFIG GET save', 'CONFIG GET appendonly']);
    expect(config).toBe('*2\r\n$4\r\nsave\r\n$0\r\n\r\n*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n+OK\r\n');
    const { pid, port, dir } = redis;
    await redis.stop();
    expect(isAlive(pid)).toBe(false);
    expect(await canConnect(port, 500)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('clean-up when the owner does not stop its servers', () => {
  it('the exit hook kills servers when the owning process exits', async () => {
    const { child, firstLine } = spawnNode(['test/helpers/orphan-child.ts', 'exit']);
    const info = (await firstLine) as { pid: number; port: number; dir: string };
    expect(await exitOf(child)).toBe(0);
    expect(await waitGone(info.pid)).toBe(true);
    expect(fs.existsSync(info.dir)).toBe(false);
  });

  it('the global teardown sweep kills servers of an owner that was SIGKILLed', async () => {
    // A private pid dir, so that no concurrent jest run's teardown sweeps this orphan before we do.
    const pidDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-pids-test-'));
    try {
      const { child, firstLine } = spawnNode(['test/helpers/orphan-child.ts', 'hang'], { GATEHOUSE_PID_DIR: pidDir });
      const info = (await firstLine) as { pid: number; port: number; dir: string };
      child.kill('SIGKILL');
      await exitOf(child);
      expect(isAlive(info.pid)).toBe(true); // orphaned: nothing in the dead owner could clean up
      expect(await rawPing(info.port)).toBe('+PONG');
      expect(fs.existsSync(path.join(pidDir, `${info.pid}.json`))).toBe(true);
      expect(sweep(-1, pidDir)).toBe(1); // selfPid -1 owns nothing, so only orphans are swept
      expect(await waitGone(info.pid)).toBe(true);
      expect(await waitPortClosed(info.port)).toBe(true);
      expect(fs.existsSync(info.dir)).toBe(false);
      expect(fs.readdirSync(pidDir)).toEqual([]);
    } finally {
      fs.rmSync(pidDir, { recursive: true, force: true });
    }
  });
});

describe('gatehouse CLI', () => {
  it('bin/gatehouse.js (built by scripts/setup.sh) prints its version and help', async () => {
    const shim = path.join(ROOT, 'bin', 'gatehouse.js');
    const built = path.join(ROOT, 'dist', 'bin', 'cli.js');
    if (!fs.existsSync(built)) throw new Error(`${built} is missing: run \`bash scripts/setup.sh\` (npm test does)`);
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
    const v = spawn(process.execPath, [shim, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    v.stdout.on('data', (c: Buffer) => (out += c.toString()));
    expect(await exitOf(v)).toBe(0);
    expect(out.trim()).toBe(version);
    const h = spawn(process.execPath, [shim, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let help = '';
    h.stdout.on('data', (c: Buffer) => (help += c.toString()));
    expect(await exitOf(h)).toBe(0);
    expect(help).toContain('sandbox');
  });

  it('`gatehouse sandbox --json` starts the cluster and SIGINT stops all of it', async () => {
    const { child, firstLine } = spawnNode(['bin/cli.ts', 'sandbox', '--json']);
    const desc = (await firstLine) as {
      nodes: { name: string; tcpPort: number; httpPort: number; pid: number; dir: string }[];
      users: { reader: { name: string; password: string } };
    };
    expect(desc.nodes.map((n) => n.name)).toEqual(['writer', 'reader1', 'reader2']);
    for (const n of desc.nodes) {
      expect(await query(n.tcpPort, 'SELECT name FROM gatehouse_meta.node', desc.users.reader)).toBe(`${n.name}\n`);
    }
    child.kill('SIGINT');
    expect(await exitOf(child)).toBe(0);
    for (const n of desc.nodes) {
      expect(isAlive(n.pid)).toBe(false);
      expect(await waitPortClosed(n.tcpPort)).toBe(true);
      expect(fs.existsSync(n.dir)).toBe(false);
    }
  });
});

afterAll(() => {
  // nothing this file started may still be tracked (clients and pythons included)
  expect(trackedProcesses()).toEqual([]);
});

describe('the test relay (test/helpers/relay.ts)', () => {
  it('keeps each direction in order under a busy event loop, with a delay', async () => {
    // A sink that records what each connection delivered.
    const received = new Map<number, Buffer[]>();
    let next = 0;
    const sink = net.createServer((s) => {
      const id = next++;
      received.set(id, []);
      s.on('data', (d: Buffer) => received.get(id)!.push(d));
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const relay = await startRelay((sink.address() as net.AddressInfo).port, { delayMs: 2 });
    const CONNS = 16;
    const CHUNKS = 400;
    try {
      await Promise.all(
        Array.from({ length: CONNS }, async () => {
          const c = net.connect(relay.port, '127.0.0.1');
          c.setNoDelay(true);
          await new Promise((r) => c.once('connect', r));
          for (let i = 0; i < CHUNKS; i++) {
            const b = Buffer.alloc(4);
            b.writeUInt32BE(i);
            c.write(b);
            // Keep the loop busy now and then, so chunks arrive in different iterations with a lagging loop clock.
            if (i % 7 === 0) {
              const until = Date.now() + 1;
              while (Date.now() < until);
            }
            await new Promise((r) => setImmediate(r));
          }
          c.end();
        }),
      );
      const deadline = Date.now() + 10_000;
      const total = () => [...received.values()].reduce((n, parts) => n + Buffer.concat(parts).length, 0);
      while (total() < CONNS * CHUNKS * 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const parts of received.values()) {
        const all = Buffer.concat(parts);
        const seq = Array.from({ length: all.length / 4 }, (_, i) => all.readUInt32BE(i * 4));
        expect(seq).toEqual(Array.from({ length: CHUNKS }, (_, i) => i));
      }
    } finally {
      await relay.close();
      sink.close();
    }
  }, 30_000);
});
