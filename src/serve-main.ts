/**
 * `gatehouse serve` as a process: load the config (exit 2 on errors), start, reload on SIGHUP and POST /reload,
 * stop gracefully on SIGTERM/SIGINT (exit 0). bin/cli.ts parses the flags and calls runServe.
 */
import { ConfigError, loadConfig, type FlagValues, type GatehouseConfig } from './config';
import * as os from 'node:os';
import { serve, type ReloadResult, type Running } from './serve';
import { tuneGarbageCollector } from './gc-tuning';
import { attachWorker, isClusterWorker, runPrimary, workerCount } from './serve-cluster';

function load(flags: FlagValues): GatehouseConfig {
  return loadConfig({ file: flags.config, flags, env: process.env });
}

/** Runs until SIGTERM/SIGINT; resolves with the exit code. */
export async function runServe(flags: FlagValues): Promise<number> {
  let cfg: GatehouseConfig;
  try {
    cfg = load(flags);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`gatehouse: invalid configuration\n${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const worker = isClusterWorker();
  const count = workerCount(cfg, os.availableParallelism());
  if (!worker && count > 1) return runPrimary(cfg, count, () => load(flags));
  tuneGarbageCollector();
  let stopSignal: (s: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (stopSignal = resolve));
  process.once('SIGINT', stopSignal);
  process.once('SIGTERM', stopSignal);
  let running: Running | null = null;
  // Reloads run one at a time, in the order asked.
  let reloading: Promise<ReloadResult> = Promise.resolve({ ok: true, notApplied: [] });
  const reload = (): Promise<ReloadResult> => {
    reloading = reloading.then(async (): Promise<ReloadResult> => {
      const r = running;
      if (!r) return { ok: false, errors: ['not started yet'] };
      let next: GatehouseConfig;
      try {
        next = load(flags);
      } catch (e) {
        const errors = e instanceof ConfigError ? e.message.split('\n').filter((l) => l.length > 0) : [String((e as Error).message)];
        r.log.warn({ errors }, 'reload refused: the configuration has errors; the running one stays');
        return { ok: false, errors };
      }
      const notApplied = await r.reload(next);
      r.log.info({ not_applied_until_restart: notApplied }, 'configuration reloaded');
      return { ok: true, notApplied };
    });
    return reloading;
  };
  const onHup = (): void => void reload();
  process.on('SIGHUP', onHup);
  running = await serve(cfg, undefined, { reloader: reload, worker });
  const detach = worker ? attachWorker(running, reload) : () => undefined;
  const signal = await stopped;
  running.log.info({ signal, timeout_ms: cfg.lifecycle.shutdown_timeout_ms }, 'stopping: finishing the queries in flight');
  await running.shutdown(cfg.lifecycle.shutdown_timeout_ms);
  running.log.info('stopped');
  detach();
  // A worker's IPC channel keeps its event loop alive: let go of it so the process can end.
  if (worker && process.connected) process.disconnect();
  process.off('SIGHUP', onHup);
  process.off('SIGINT', stopSignal);
  process.off('SIGTERM', stopSignal);
  return 0;
}
