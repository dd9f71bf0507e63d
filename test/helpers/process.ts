/** Runs a short-lived tracked process with a timeout and collects its output. */
import { spawnTracked } from '../../src/sandbox';

/** Exit status and output of a finished process. */
export interface RunResult {
  /** Exit code; null when killed by a signal (e.g. after the timeout). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Options for {@link runProcess}. */
export interface RunOptions {
  /** Data for stdin; when undefined, stdin is /dev/null (never an inherited terminal). */
  readonly stdin?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Default 30 s; the process group is SIGKILLed after it. */
  readonly timeoutMs?: number;
}

/** Spawns `command args`, feeds stdin, waits for the exit or the timeout. Never rejects on a non-zero exit. */
export async function runProcess(
  kind: string,
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const proc = spawnTracked({
    kind,
    command,
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  proc.child.ref(); // spawnTracked unrefs servers; a short-lived run is awaited, so keep the loop alive
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.child.stdout?.on('data', (c: Buffer) => out.push(c));
  proc.child.stderr?.on('data', (c: Buffer) => err.push(c));
  if (opts.stdin !== undefined && proc.child.stdin) {
    proc.child.stdin.on('error', () => undefined); // EPIPE if the process exits without reading
    proc.child.stdin.end(opts.stdin);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.signal('SIGKILL');
  }, opts.timeoutMs ?? 30_000);
  const closed = new Promise<void>((resolve) => proc.child.once('close', () => resolve()));
  const info = await proc.exited;
  // all output read ('close' follows 'exit'; a spawn failure reports neither code nor signal and may not close)
  if (info.code !== null || info.signal !== null) await closed;
  clearTimeout(timer);
  return {
    code: info.code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    timedOut,
  };
}
