/**
 * Every process the sandbox starts is spawned here, so that none outlives its owner.
 *
 * Three layers of clean-up:
 * 1. the owner calls `terminate()` (servers' `stop()` does);
 * 2. a synchronous `process.on('exit')` hook kills whatever this process still tracks (also on SIGINT/SIGTERM/SIGHUP
 *    when the process has no handler of its own for them);
 * 3. a pid file per process in `<os.tmpdir()>/gatehouse-pids/` lets a different process (jest's globalTeardown,
 *    test/helpers/global-teardown.js, which must stay in step with the format below) kill what a crashed or
 *    SIGKILLed owner left behind.
 * Children are spawned detached, so each leads its own process group and is killed with its own children.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where pid files live; read by test/helpers/global-teardown.js. GATEHOUSE_PID_DIR overrides it (tests only). */
export const PID_DIR = process.env.GATEHOUSE_PID_DIR ?? path.join(os.tmpdir(), 'gatehouse-pids');

/** How a tracked process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What to spawn. `dir` (a temp directory) is removed when the process is cleaned up by the hooks. */
export interface SpawnTrackedOptions {
  readonly kind: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly stdio?: StdioOptions;
  readonly dir?: string;
}

/** The on-disk record (JSON) of one tracked process. */
interface PidFileEntry {
  readonly pid: number;
  readonly kind: string;
  /** Substring of /proc/<pid>/cmdline proving the pid was not reused by another program. */
  readonly marker: string;
  readonly dir: string | null;
  /** [starter pid, starter's parent pid]: jest's main process is one of the two, in band or with workers. */
  readonly ownerPids: readonly number[];
  readonly startedAtMs: number;
}

/** A spawned, tracked process. */
export class TrackedProcess {
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | null = null;

  constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    readonly kind: string,
    readonly dir: string | null,
  ) {
    this.exited = new Promise<ExitInfo>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exitInfo) return;
        this.exitInfo = { code, signal };
        untrack(this);
        resolve(this.exitInfo);
      };
      child.once('exit', done);
      child.once('error', () => done(null, null));
    });
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.exitInfo === null;
  }

  /** Sends a signal to the whole process group; no-op once exited. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        // already gone
      }
    }
  }

  /**
   * Stops the process and waits for it: `sig` first, then SIGKILL after `graceMs`.
   * Idempotent; resolves with how it ended.
   */
  async terminate(sig: NodeJS.Signals = 'SIGKILL', graceMs = 5_000): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    // the child was unref'd at spawn; while someone awaits its exit, it must keep the event loop alive
    this.child.ref();
    this.signal(sig);
    if (sig !== 'SIGKILL') {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      });
      const first = await Promise.race([this.exited, timedOut]);
      clearTimeout(timer);
      if (first !== 'timeout') return first;
      this.signal('SIGKILL');
    }
    return this.exited;
  }
}

const live = new Set<TrackedProcess>();
let hookInstalled = false;

function pidFile(pid: number): string {
  return path.join(PID_DIR, `${pid}.json`);
}

function untrack(p: TrackedProcess): void {
  live.delete(p);
  fs.rmSync(pidFile(p.pid), { force: true });
}

/** Synchronous last resort: the 'exit' event allows no async work. */
function killAllSync(): void {
  for (const p of live) {
    p.signal('SIGKILL');
    fs.rmSync(pidFile(p.pid), { force: true });
    if (p.dir) fs.rmSync(p.dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
  }
  live.clear();
}

const FATAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function installHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', killAllSync);
  // A signal's default action ends the process without 'exit' (Ctrl+C during `npm test`). Where nobody handles the
  // signal, clean up and re-raise it so the default action still happens. Where someone does (the CLI), leave it.
  for (const sig of FATAL_SIGNALS) {
    if (process.listenerCount(sig) > 0) continue;
    process.once(sig, () => {
      killAllSync();
      process.kill(process.pid, sig);
    });
  }
}

/** Spawns a detached child, records it in the registry and in a pid file, and untracks it when it exits. */
export function spawnTracked(opts: SpawnTrackedOptions): TrackedProcess {
  installHook();
  const child = spawn(opts.command, [...opts.args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: opts.stdio ?? 'ignore',
    detached: true,
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (ENOENT and friends are reported via 'error'); surface it as an exception
    throw new Error(`cannot start ${opts.command}: spawn returned no pid`);
  }
  const tracked = new TrackedProcess(child, child.pid, opts.kind, opts.dir ?? null);
  live.add(tracked);
  const entry: PidFileEntry = {
    pid: child.pid,
    kind: opts.kind,
    marker: path.basename(opts.command),
    dir: opts.dir ?? null,
    ownerPids: [process.pid, process.ppid],
    startedAtMs: Date.now(),
  };
  fs.mkdirSync(PID_DIR, { recursive: true });
  // write-then-rename: the global teardown never reads a half-written file
  const tmp = `${pidFile(child.pid)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(entry));
  fs.renameSync(tmp, pidFile(child.pid));
  // A forgotten server must not keep the owner's event loop alive; the exit hook kills it instead.
  child.unref();
  return tracked;
}

/** Processes this process still tracks (for diagnostics and tests). */
export function trackedProcesses(): readonly TrackedProcess[] {
  return [...live];
}
