/**
 * Starts a throw-away ClickHouse 18.16 server (Debian's /usr/sbin/clickhouse-server) on free loopback ports, in its
 * own temp dir with its own config.xml and users.xml, and waits until it answers on HTTP /ping and its TCP port.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  renderConfigXml,
  renderUsersXml,
  type ClickHouseLogLevel,
  type ClickHouseUser,
} from './clickhouse-config';
import { httpPing } from './http-query';
import { canConnect, delay, freePort } from './ports';
import { spawnTracked, type ExitInfo, type TrackedProcess } from './process-registry';

/** Debian's package installs the server runner in /usr/sbin (not /usr/bin). */
export const CLICKHOUSE_SERVER_BIN = '/usr/sbin/clickhouse-server';

/** Options for {@link startClickHouse}. */
export interface StartClickHouseOptions {
  /** display_name sent in the server Hello and used in the temp dir name. Default 'clickhouse'. */
  readonly name?: string;
  /** Server log level. Default 'warning'. */
  readonly logLevel?: ClickHouseLogLevel;
  /** Accounts besides `default` (no password, full access), which always exists. */
  readonly users?: readonly ClickHouseUser[];
  /** Raw XML appended inside config.xml's `<yandex>`. */
  readonly extraConfigXml?: string;
  /**
   * Also serve the secure native port (`tcp_port_secure`) and HTTPS (`https_port`) with this PEM certificate and key.
   * The files are read by the server from where they are (they must outlive it).
   */
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    /** Ask clients for a certificate this PEM CA signed (mutual TLS, on both secure ports). */
    readonly clientCaFile?: string;
  };
  /** Fixed ports instead of free ones (no retry on a bind race then). */
  readonly tcpPort?: number;
  readonly httpPort?: number;
  readonly tcpSecurePort?: number;
  readonly httpsPort?: number;
  /** How long to wait for the server to answer. Default 30 s. */
  readonly startTimeoutMs?: number;
  /** Keep the temp dir after stop() (for debugging). Also set by GATEHOUSE_KEEP_SANDBOX=1. */
  readonly keepDir?: boolean;
}

/** A running (or stopped) throw-away ClickHouse server. */
export interface ClickHouseServer {
  readonly name: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  /** The secure native port (null: started without `tls`). */
  readonly tcpSecurePort: number | null;
  /** The HTTPS port (`https_port`; null: started without `tls`). */
  readonly httpsPort: number | null;
  readonly dir: string;
  /** Pid of the current server process (changes on restart). */
  readonly pid: number;
  readonly logFile: string;
  readonly errorLogFile: string;
  /** Resolves when the current server process exits. */
  readonly exited: Promise<ExitInfo>;
  /** Kills the server (SIGKILL: the data is throw-away), waits for it, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Sends a signal and waits for the exit (SIGKILL after 10 s); keeps the dir, so `restart()` can follow. */
  kill(signal?: NodeJS.Signals): Promise<ExitInfo>;
  /** Kills the server if running and starts it again on the same ports and data dir. */
  restart(): Promise<void>;
}

const BIND_ATTEMPTS = 4;
const POLL_MS = 25;

class StartError extends Error {
  constructor(
    message: string,
    readonly portClash: boolean,
  ) {
    super(message);
  }
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

class ClickHouseProcess implements ClickHouseServer {
  private proc: TrackedProcess | null = null;
  private stopped = false;
  readonly logFile: string;
  readonly errorLogFile: string;

  constructor(
    readonly name: string,
    readonly dir: string,
    public tcpPort: number,
    public httpPort: number,
    public tcpSecurePort: number | null,
    public httpsPort: number | null,
    private readonly opts: StartClickHouseOptions,
  ) {
    this.logFile = path.join(dir, 'log', 'server.log');
    this.errorLogFile = path.join(dir, 'log', 'server.err.log');
  }

  get pid(): number {
    return this.proc?.pid ?? -1;
  }

  get exited(): Promise<ExitInfo> {
    return this.proc ? this.proc.exited : Promise.resolve({ code: null, signal: null });
  }

  private keepDir(): boolean {
    return this.opts.keepDir === true || process.env.GATEHOUSE_KEEP_SANDBOX === '1';
  }

  /** Writes config.xml for the current ports, spawns the server and waits until both ports answer. */
  async launch(): Promise<void> {
    fs.writeFileSync(
      path.join(this.dir, 'config.xml'),
      renderConfigXml({
        dir: this.dir,
        displayName: this.name,
        tcpPort: this.tcpPort,
        httpPort: this.httpPort,
        logLevel: this.opts.logLevel ?? 'warning',
        tls:
          this.opts.tls && this.tcpSecurePort !== null
            ? {
                tcpSecurePort: this.tcpSecurePort,
                ...(this.httpsPort !== null ? { httpsPort: this.httpsPort } : {}),
                certificateFile: this.opts.tls.certFile,
                privateKeyFile: this.opts.tls.keyFile,
                ...(this.opts.tls.clientCaFile !== undefined ? { clientCaFile: this.opts.tls.clientCaFile } : {}),
              }
            : undefined,
        extraXml: this.opts.extraConfigXml,
      }),
    );
    const outFile = path.join(this.dir, 'log', 'stdout.log');
    // Output goes to a file, never to a pipe: an unread pipe would eventually block the server.
    const out = fs.openSync(outFile, 'a');
    try {
      this.proc = spawnTracked({
        kind: `clickhouse-server:${this.name}`,
        command: CLICKHOUSE_SERVER_BIN,
        args: [`--config-file=${path.join(this.dir, 'config.xml')}`],
        cwd: this.dir,
        stdio: ['ignore', out, out],
        dir: this.keepDir() ? undefined : this.dir,
      });
    } finally {
      fs.closeSync(out);
    }
    const proc = this.proc;
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 30_000);
    for (;;) {
      if (!proc.running) {
        const log = [tail(this.errorLogFile), tail(outFile)].filter(Boolean).join('\n');
        const info = await proc.exited;
        throw new StartError(
          `clickhouse-server '${this.name}' exited during start-up (code ${info.code}, signal ${info.signal}):\n${log}`,
          /Address already in use|Net Exception: Address/i.test(log),
        );
      }
      // A server whose SSL set-up failed still starts, without the secure ports (it logs why): wait for them too.
      const secureUp =
        (this.tcpSecurePort === null || (await canConnect(this.tcpSecurePort, 500))) &&
        (this.httpsPort === null || (await canConnect(this.httpsPort, 500)));
      if ((await httpPing(this.httpPort, 500)) && (await canConnect(this.tcpPort, 500)) && secureUp) return;
      if (Date.now() > deadline) {
        await proc.terminate('SIGKILL');
        const ports = [this.tcpPort, this.httpPort, this.tcpSecurePort, this.httpsPort].filter((p) => p !== null).join('/');
        throw new StartError(
          `clickhouse-server '${this.name}' did not answer on ports ${ports} in time:\n` +
            tail(this.errorLogFile),
          false,
        );
      }
      await delay(POLL_MS);
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitInfo> {
    if (!this.proc) return { code: null, signal: null };
    return this.proc.terminate(signal, 10_000);
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error(`clickhouse-server '${this.name}' was stopped; start a new one`);
    await this.kill('SIGKILL');
    await this.launch();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.kill('SIGKILL');
    if (!this.keepDir()) fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  }
}

/** Starts one ClickHouse server and resolves once it answers; see {@link StartClickHouseOptions}. */
export async function startClickHouse(opts: StartClickHouseOptions = {}): Promise<ClickHouseServer> {
  if (!fs.existsSync(CLICKHOUSE_SERVER_BIN)) {
    throw new Error(
      `${CLICKHOUSE_SERVER_BIN} not found: run \`bash scripts/setup.sh\` as root (installs Debian's clickhouse-server)`,
    );
  }
  const name = opts.name ?? 'clickhouse';
  for (const f of opts.tls ? [opts.tls.certFile, opts.tls.keyFile, ...(opts.tls.clientCaFile ? [opts.tls.clientCaFile] : [])] : []) {
    if (!fs.existsSync(f)) throw new Error(`clickhouse-server '${name}': TLS file ${f} not found`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gatehouse-ch-${name.replace(/[^A-Za-z0-9_-]/g, '_')}-`));
  fs.mkdirSync(path.join(dir, 'log'));
  fs.writeFileSync(path.join(dir, 'users.xml'), renderUsersXml([{ name: 'default', password: '' }, ...(opts.users ?? [])]));
  const fixedPorts =
    opts.tcpPort !== undefined || opts.httpPort !== undefined || opts.tcpSecurePort !== undefined || opts.httpsPort !== undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const server = new ClickHouseProcess(
      name,
      dir,
      opts.tcpPort ?? (await freePort()),
      opts.httpPort ?? (await freePort()),
      opts.tls ? (opts.tcpSecurePort ?? (await freePort())) : null,
      opts.tls ? (opts.httpsPort ?? (await freePort())) : null,
      opts,
    );
    // freePort() may hand out the same port twice
    if (new Set([server.tcpPort, server.httpPort, server.tcpSecurePort, server.httpsPort]).size < (opts.tls ? 4 : 2)) continue;
    try {
      await server.launch();
      return server;
    } catch (e) {
      lastError = e;
      // Another process grabbed a port between freePort() and the server's bind: try new ports.
      if (!(e instanceof StartError && e.portClash && !fixedPorts)) break;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  throw lastError instanceof Error ? lastError : new Error(`clickhouse-server '${name}' could not start`);
}
