/**
 * The processes the proxy benchmark puts between its load generators and ClickHouse: HAProxy in TCP mode (the L4
 * anchor), Gatehouse (the built CLI, as an operator runs it) and the latency relay (benchmarks/latency-relay.ts) in
 * a process of its own. Each starter resolves once the process forwards a query.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, spawnTracked, type TrackedProcess } from '../src/sandbox';
import { HAPROXY_BIN, waitForOutput } from './bench-util';
import type { HoldStats } from './latency-relay';

export const GATEHOUSE_CLI = path.join(__dirname, '..', 'dist', 'bin', 'cli.js');
/**
 * A script beside this file (`name`.ts under ts-node, as npm run bench:* runs it; .js when run from dist/) in a Node
 * process of its own, stdin kept open; resolves once it prints `ready`, whose first group is the port it listens on.
 */
export async function startScriptProcess(kind: string, name: string, args: readonly string[], ready: RegExp): Promise<Started> {
  const script = path.join(__dirname, `${name}${path.extname(__filename)}`);
  const loader = script.endsWith('.ts') ? ['-r', require.resolve('ts-node/register/transpile-only')] : [];
  const proc = spawnTracked({
    kind,
    command: process.execPath,
    args: [...loader, script, ...args],
    env: { ...process.env, TS_NODE_PROJECT: path.join(__dirname, '..', 'tsconfig.json') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const m = await waitForOutput(proc, ready, kind, 30_000);
  return { port: Number(m[1]), proc };
}

export interface Started {
  port: number;
  proc: TrackedProcess;
}

/**
 * HAProxy in `mode tcp` in front of 127.0.0.1:backendPort (bytes pass through: TLS to a secure port stays end to
 * end). `probe(port)` resolves true once a query through it works.
 */
export async function startHaproxy(
  dir: string,
  name: string,
  backendPort: number,
  probe: (port: number) => Promise<boolean>,
  threads: number,
): Promise<Started> {
  const port = await freePort();
  const cfg = path.join(dir, `haproxy-${name}.cfg`);
  // maxconn below the fd limit: haproxy refuses to start when it cannot raise RLIMIT_NOFILE to maxconn × 2 + x.
  fs.writeFileSync(
    cfg,
    [
      'global',
      '    maxconn 4000',
      // Explicit: HAProxy 2.6 otherwise starts one thread per core (`haproxy -vv`: default=2 here).
      `    nbthread ${threads}`,
      'defaults',
      '    mode tcp',
      '    timeout connect 5s',
      '    timeout client 1h',
      '    timeout server 1h',
      '    maxconn 4000',
      'frontend bench',
      `    bind 127.0.0.1:${port}`,
      '    default_backend clickhouse',
      'backend clickhouse',
      `    server ch 127.0.0.1:${backendPort}`,
      '',
    ].join('\n'),
  );
  const proc = spawnTracked({ kind: 'haproxy', command: HAPROXY_BIN, args: ['-db', '-f', cfg], stdio: ['ignore', 'pipe', 'pipe'] });
  const deadline = Date.now() + 10_000;
  let out = '';
  proc.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  for (;;) {
    if (!proc.running) throw new Error(`haproxy exited during start-up:\n${out}`);
    if (await probe(port).catch(() => false)) return { port, proc };
    if (Date.now() > deadline) throw new Error(`haproxy (${name}) did not forward in time:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StartedGatehouse extends Started {
  /** The TLS listener's port (null: none configured). */
  tlsPort: number | null;
  /** The HTTP frontend's port (null: none configured). */
  httpPort: number | null;
}

/**
 * Gatehouse with `workers` processes (`--workers`; the benchmark gives HAProxy as many threads), listening on a
 * free loopback port. `config` (optional) is written as the `--config` file (JSON is YAML); `args` are extra flags.
 */
export async function startGatehouse(
  dir: string,
  name: string,
  args: readonly string[],
  config: Record<string, unknown> | null,
  profileDir: string | undefined,
  workers = 1,
): Promise<StartedGatehouse> {
  if (!fs.existsSync(GATEHOUSE_CLI)) throw new Error(`${GATEHOUSE_CLI} missing: run \`npx tsc -p tsconfig.build.json\``);
  const configArgs: string[] = [];
  if (config) {
    const file = path.join(dir, `gatehouse-${name}.yaml`);
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    configArgs.push('--config', file);
  }
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const proc = spawnTracked({
    kind: 'gatehouse',
    command: process.execPath,
    args: [...nodeArgs, GATEHOUSE_CLI, 'serve', ...configArgs, '--workers', String(workers), '--listen', '127.0.0.1:0', ...args],
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The ready line, written whole: "Gatehouse listening on 127.0.0.1:P[, TLS on 127.0.0.1:T][, HTTP on 127.0.0.1:H]…"
  // (src/serve.ts).
  const m = await waitForOutput(
    proc,
    /listening on 127\.0\.0\.1:(\d+)(?:, TLS on 127\.0\.0\.1:(\d+))?(?:, HTTP on 127\.0\.0\.1:(\d+))?/,
    `gatehouse (${name})`,
  );
  return { port: Number(m[1]), tlsPort: m[2] ? Number(m[2]) : null, httpPort: m[3] ? Number(m[3]) : null, proc };
}

export interface RelayProcess extends Started {
  /** The relay's achieved holds since the last call. */
  stats(): Promise<HoldStats>;
}

/** The latency relay in its own Node process, in front of 127.0.0.1:targetPort. */
export async function startRelayProcess(targetPort: number, delayMs: number, handshakeRtt: boolean): Promise<RelayProcess> {
  const args = ['--target', String(targetPort), '--delay-ms', String(delayMs)];
  if (handshakeRtt) args.push('--handshake-rtt');
  const { port, proc } = await startScriptProcess('latency-relay', 'latency-relay', args, /latency relay listening on 127\.0\.0\.1:(\d+)/);
  const replies: { resolve: (s: HoldStats) => void; reject: (e: Error) => void }[] = [];
  createInterface({ input: proc.child.stdout! }).on('line', (line) => {
    if (line.startsWith('{')) replies.shift()?.resolve(JSON.parse(line) as HoldStats);
  });
  void proc.exited.then((e) => {
    for (const r of replies.splice(0)) r.reject(new Error(`latency relay exited (${JSON.stringify(e)})`));
  });
  return {
    port,
    proc,
    stats: () =>
      new Promise<HoldStats>((resolve, reject) => {
        if (!proc.running) return reject(new Error('latency relay exited'));
        replies.push({ resolve, reject });
        proc.child.stdin!.write('stats\n');
      }),
  };
}
