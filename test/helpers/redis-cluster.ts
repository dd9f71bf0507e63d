/**
 * A throw-away Redis Cluster for tests: N redis-server processes (masters only) with cluster mode on, joined by
 * `redis-cli --cluster create`, on free loopback ports, without persistence, in one temp dir. Every process is
 * spawned tracked (src/sandbox), so none outlives the test run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, redisPing, spawnTracked, type TrackedProcess } from '../../src/sandbox';
import { runProcess } from './process';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
/** Start-up attempts of a node whose ports were taken before it bound them. */
const BIND_ATTEMPTS = 4;

/** A running throw-away cluster. */
export interface RedisClusterServers {
  /** Client ports of the nodes (each also has a bus port). */
  readonly ports: readonly number[];
  /** Kills every node and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Redis Cluster: ${what} not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Every node's `requirepass` (the default user's password); clients and redis-cli must AUTH with it. */
  readonly password?: string;
  /**
   * TLS only, with these certificates (test/helpers/certs.ts): clients and the cluster bus speak TLS, the plain port
   * is closed; clients are not asked for a certificate.
   */
  readonly tls?: {
    readonly caCert: string;
    readonly serverCert: string;
    readonly serverKey: string;
    /** What a node presents when it connects to another's bus (the server certificate is for serverAuth only). */
    readonly clientCert: string;
    readonly clientKey: string;
  };
}

/** Starts `nodes` (>= 3: redis-cli refuses fewer masters) cluster nodes and creates the cluster over them. */
export async function startRedisCluster(nodes = 3, opts: RedisClusterOptions = {}): Promise<RedisClusterServers> {
  const auth = [
    ...(opts.password === undefined ? [] : ['-a', opts.password, '--no-auth-warning']),
    ...(opts.tls === undefined ? [] : ['--tls', '--cacert', opts.tls.caCert]),
  ];
  const tlsArgs = (port: number): string[] =>
    opts.tls === undefined
      ? ['--port', String(port)]
      : [
          '--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-auth-clients', 'no',
          '--tls-cert-file', opts.tls.serverCert, '--tls-key-file', opts.tls.serverKey, '--tls-ca-cert-file', opts.tls.caCert,
          '--tls-client-cert-file', opts.tls.clientCert, '--tls-client-key-file', opts.tls.clientKey,
        ];
  // A raw PING cannot speak TLS: redis-cli asks then.
  const answers = async (port: number): Promise<boolean> =>
    opts.tls === undefined
      ? redisPing(port, 500, opts.password)
      : (await runProcess('redis-cli', REDIS_CLI, [...auth, '-p', String(port), 'ping'], { timeoutMs: 2_000 })).stdout.includes('PONG');
  for (const bin of [REDIS_SERVER, REDIS_CLI]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} not found: run \`bash scripts/setup.sh\` as root (installs redis-server)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-redis-cluster-'));
  const procs: TrackedProcess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(procs.map((p) => p.terminate('SIGKILL')));
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  };
  try {
    const ports: number[] = [];
    // Each node on its own free ports; a port taken between freePort() and the bind (parallel test workers start
    // servers too) makes redis-server exit: then the node starts again on new ports.
    const startNode = async (i: number): Promise<number> => {
      for (let attempt = 1; ; attempt++) {
        // The bus port defaults to port + 10000, which may be taken or past 65535: pick it explicitly (Redis >= 7.0).
        const [port, busPort] = [await freePort(), await freePort()];
        const nodeDir = path.join(dir, `node-${i}-${attempt}`);
        fs.mkdirSync(nodeDir);
        const proc = spawnTracked({
          kind: 'redis-server',
          command: REDIS_SERVER,
          args: [
            ...tlsArgs(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
            '--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf'),
            '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no',
            '--dir', nodeDir, '--logfile', path.join(nodeDir, 'redis.log'), '--daemonize', 'no',
            ...(opts.password === undefined ? [] : ['--requirepass', opts.password, '--masterauth', opts.password]),
          ],
          cwd: nodeDir,
          dir,
        });
        procs.push(proc);
        await until(async () => !proc.running || (await answers(port)), 30_000, `node on port ${port} answering PING`);
        if (proc.running) return port;
        const logFile = path.join(nodeDir, 'redis.log');
        const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
        if (attempt >= BIND_ATTEMPTS || !/Address already in use/i.test(log)) {
          throw new Error(`Redis Cluster: node on port ${port} exited during start-up:\n${log.slice(-1000)}`);
        }
      }
    };
    for (let i = 0; i < nodes; i++) ports.push(await startNode(i));
    const created = await runProcess(
      'redis-cli',
      REDIS_CLI,
      [...auth, '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeoutMs: 30_000 },
    );
    if (created.code !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}\n${created.stderr}`);
    // Every node must know all slots before clients connect, or the first commands meet CLUSTERDOWN.
    for (const p of ports) {
      await until(
        async () => (await runProcess('redis-cli', REDIS_CLI, [...auth, '-p', String(p), 'cluster', 'info'], { timeoutMs: 5_000 })).stdout.includes('cluster_state:ok'),
        30_000,
        `cluster_state:ok on port ${p}`,
      );
    }
    return { ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
