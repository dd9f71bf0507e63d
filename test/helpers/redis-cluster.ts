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

/** Starts `nodes` (>= 3: redis-cli refuses fewer masters) cluster nodes and creates the cluster over them. */
export async function startRedisCluster(nodes = 3): Promise<RedisClusterServers> {
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
    for (let i = 0; i < nodes; i++) {
      // The bus port defaults to port + 10000, which may be taken or past 65535: pick it explicitly (Redis >= 7.0).
      const [port, busPort] = [await freePort(), await freePort()];
      const nodeDir = path.join(dir, `node-${i}`);
      fs.mkdirSync(nodeDir);
      ports.push(port);
      procs.push(
        spawnTracked({
          kind: 'redis-server',
          command: REDIS_SERVER,
          args: [
            '--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
            '--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf'),
            '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no',
            '--dir', nodeDir, '--logfile', path.join(nodeDir, 'redis.log'), '--daemonize', 'no',
          ],
          cwd: nodeDir,
          dir,
        }),
      );
    }
    await Promise.all(ports.map((p) => until(() => redisPing(p, 500), 30_000, `node on port ${p} answering PING`)));
    const created = await runProcess(
      'redis-cli',
      REDIS_CLI,
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeoutMs: 30_000 },
    );
    if (created.code !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}\n${created.stderr}`);
    // Every node must know all slots before clients connect, or the first commands meet CLUSTERDOWN.
    for (const p of ports) {
      await until(
        async () => (await runProcess('redis-cli', REDIS_CLI, ['-p', String(p), 'cluster', 'info'], { timeoutMs: 5_000 })).stdout.includes('cluster_state:ok'),
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
