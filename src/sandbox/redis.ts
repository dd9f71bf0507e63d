/** Starts a throw-away redis-server on a free loopback port, without persistence, in its own temp dir. */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { delay, freePort } from './ports';
import { spawnTracked, type ExitInfo } from './process-registry';

/** Debian's redis-server. */
export const REDIS_SERVER_BIN = '/usr/bin/redis-server';

/** A running throw-away Redis. */
export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  /** Kills the server, waits for it, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  readonly port?: number;
  /** Default 30 s. */
  readonly startTimeoutMs?: number;
}

/**
 * Sends an inline PING over a raw socket (after an AUTH when a password is given); resolves true on "+PONG". With a
 * password, the AUTH's own answer comes first: true only when that answer was "+OK" and the PING's "+PONG".
 */
export function redisPing(port: number, timeoutMs = 1_000, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    // The RESP array form, so a password with spaces or quotes is sent as one argument.
    const auth = password === undefined ? '' : `*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n`;
    const expected = password === undefined ? '+PONG\r\n' : '+OK\r\n+PONG\r\n';
    const lines = password === undefined ? 1 : 2;
    sock.once('connect', () => sock.write(`${auth}PING\r\n`));
    sock.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      if (buf.split('\r\n').length > lines) done(buf.startsWith(expected));
    });
  });
}

/** Starts redis-server and resolves once it answers PING. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  if (!fs.existsSync(REDIS_SERVER_BIN)) {
    throw new Error(`${REDIS_SERVER_BIN} not found: run \`bash scripts/setup.sh\` as root (installs redis-server)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-redis-'));
  let lastError: Error = new Error('redis-server could not start');
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = opts.port ?? (await freePort());
    const logFile = path.join(dir, 'redis.log');
    const proc = spawnTracked({
      kind: 'redis-server',
      command: REDIS_SERVER_BIN,
      // no config file: everything on the command line; --save '' and --appendonly no disable persistence
      args: [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', dir, '--logfile', logFile, '--daemonize', 'no', '--protected-mode', 'yes',
      ],
      cwd: dir,
      dir,
    });
    const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
    let ready = false;
    while (proc.running && Date.now() < deadline) {
      if (await redisPing(port, 500)) {
        ready = true;
        break;
      }
      await delay(20);
    }
    if (ready) {
      let stopped = false;
      return {
        port,
        dir,
        pid: proc.pid,
        exited: proc.exited,
        async stop(): Promise<void> {
          if (stopped) return;
          stopped = true;
          await proc.terminate('SIGKILL');
          fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
        },
      };
    }
    await proc.terminate('SIGKILL');
    let log = '';
    try {
      log = fs.readFileSync(logFile, 'utf8');
    } catch {
      // no log written
    }
    lastError = new Error(`redis-server did not start on port ${port}:\n${log.trimEnd().split('\n').slice(-10).join('\n')}`);
    if (opts.port !== undefined || !/Address already in use/i.test(log)) break;
  }
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  throw lastError;
}
