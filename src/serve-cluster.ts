/**
 * `gatehouse serve` with several worker processes (issue 6, `--workers N`): Node's cluster module shares the listening
 * ports; the primary runs no proxy, only the admin server (metrics summed over the workers by prom-client's
 * AggregatorRegistry, readiness and status reported by the workers), the reload fan-out and the lifecycle: a worker
 * that dies is replaced, SIGTERM stops every worker gracefully, then the primary.
 */
import cluster, { type Worker } from 'node:cluster';
import pino, { type Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { ConfigError, parseHostPort, type GatehouseConfig } from './config';
import { Metrics, startAdminServer, type AdminServer, type Readiness } from './metrics';
import type { ReloadResult, Running } from './serve';

/** Worker → primary. */
type FromWorker =
  | { gh: 'listening'; host: string; port: number; http: { host: string; port: number } | null }
  | { gh: 'state'; ready: Readiness | boolean; status: Record<string, unknown> }
  | { gh: 'reloaded'; id: number; result: ReloadResult };
/** Primary → worker. */
type ToWorker = { gh: 'reload'; id: number };

/** How often a worker reports its readiness and status. */
const STATE_EVERY_MS = 500;
/** How long the primary waits for every worker to answer a reload. */
const RELOAD_WAIT_MS = 15_000;
/** How long start-up may take before the primary gives up. */
const START_WAIT_MS = 60_000;

function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { gh?: unknown }).gh === 'string';
}

/** In a worker: makes the primary's admin server see this worker (metrics, state) and reload it. */
export function attachWorker(running: Running, reload: () => Promise<ReloadResult>): () => void {
  AggregatorRegistry.setRegistries([running.metrics.registry]);
  // prom-client installs the worker's answer to the primary's metrics requests when an aggregator is constructed.
  new AggregatorRegistry();
  const send = (m: FromWorker): void => {
    if (process.connected) process.send?.(m);
  };
  const http = running.http ? { host: running.http.host, port: running.http.port } : null;
  send({ gh: 'listening', host: running.proxy.host, port: running.proxy.port, http });
  const report = (): void => send({ gh: 'state', ready: running.ready(), status: { pid: process.pid, ...running.status() } });
  report();
  const timer = setInterval(report, STATE_EVERY_MS);
  timer.unref();
  const onMessage = (m: unknown): void => {
    const msg = m as ToWorker;
    if (msg?.gh !== 'reload') return;
    void reload().then((result) => send({ gh: 'reloaded', id: msg.id, result }));
  };
  process.on('message', onMessage);
  return () => {
    clearInterval(timer);
    process.off('message', onMessage);
  };
}

/** The primary: forks `count` workers and serves the admin port until SIGTERM/SIGINT; resolves with the exit code. */
export async function runPrimary(cfg: GatehouseConfig, count: number, validate: () => GatehouseConfig, log: Logger = pino({ level: cfg.log_level })): Promise<number> {
  const aggregator = new AggregatorRegistry();
  const states = new Map<number, { ready: Readiness | boolean; status: Record<string, unknown> }>();
  const listening = new Map<number, { host: string; port: number; http: { host: string; port: number } | null }>();
  const pendingReloads = new Map<number, Map<number, (r: ReloadResult) => void>>();
  let stopping = false;
  let nextReloadId = 1;

  const fork = (): Worker => {
    const w = cluster.fork();
    w.on('message', (m: unknown) => {
      if (!isFromWorker(m)) return;
      if (m.gh === 'listening') listening.set(w.id, { host: m.host, port: m.port, http: m.http });
      else if (m.gh === 'state') states.set(w.id, { ready: m.ready, status: m.status });
      else if (m.gh === 'reloaded') pendingReloads.get(m.id)?.get(w.id)?.(m.result);
    });
    return w;
  };
  cluster.on('exit', (w, code, signal) => {
    states.delete(w.id);
    listening.delete(w.id);
    for (const waiting of pendingReloads.values()) waiting.get(w.id)?.({ ok: false, errors: [`worker ${w.id} exited`] });
    if (stopping) return;
    log.warn({ worker: w.id, pid: w.process.pid, code, signal }, 'worker exited: starting another');
    fork();
  });
  for (let i = 0; i < count; i++) fork();
  const deadline = Date.now() + START_WAIT_MS;
  while (listening.size < count) {
    if (Date.now() > deadline) {
      log.error({ listening: listening.size, workers: count }, 'workers did not start');
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      return 1;
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  const reloadAll = async (): Promise<ReloadResult> => {
    try {
      validate(); // refused here, before any worker changes
    } catch (e) {
      const errors = e instanceof ConfigError ? e.message.split('\n').filter((l) => l.length > 0) : [(e as Error).message];
      log.warn({ errors }, 'reload refused: the configuration has errors; the running one stays');
      return { ok: false, errors };
    }
    const id = nextReloadId++;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const waiting = new Map<number, (r: ReloadResult) => void>();
    pendingReloads.set(id, waiting);
    const results = await Promise.all(
      workers.map(
        (w) =>
          new Promise<ReloadResult>((resolve) => {
            const timer = setTimeout(() => resolve({ ok: false, errors: [`worker ${w.id} did not answer`] }), RELOAD_WAIT_MS);
            waiting.set(w.id, (r) => {
              clearTimeout(timer);
              resolve(r);
            });
            w.send({ gh: 'reload', id } satisfies ToWorker);
          }),
      ),
    );
    pendingReloads.delete(id);
    const errors = results.flatMap((r) => (r.ok ? [] : r.errors));
    if (errors.length > 0) return { ok: false, errors };
    const notApplied = [...new Set(results.flatMap((r) => (r.ok ? r.notApplied : [])))];
    log.info({ workers: workers.length, not_applied_until_restart: notApplied }, 'configuration reloaded');
    return { ok: true, notApplied };
  };

  let admin: AdminServer | null = null;
  if (cfg.admin) {
    const a = parseHostPort(cfg.admin, true);
    admin = await startAdminServer({
      host: a.host,
      port: a.port,
      metrics: new Metrics({ processMetrics: false }),
      render: () => aggregator.clusterMetrics(),
      // Ready when every worker is: a load balancer's check may land on any of them.
      isReady: (): Readiness | boolean => {
        if (stopping) return { ready: false, notReady: ['shutting down'] };
        const notReady: string[] = [];
        if (states.size < count) notReady.push(`${count - states.size} worker(s) not reporting`);
        for (const [id, s] of states) {
          if (s.ready === true || (typeof s.ready === 'object' && s.ready.ready)) continue;
          const why = typeof s.ready === 'object' && !s.ready.ready ? s.ready.notReady : ['not ready'];
          notReady.push(...why.map((w) => `worker ${id}: ${w}`));
        }
        return notReady.length === 0 ? true : { ready: false, notReady };
      },
      isServing: () => !stopping,
      status: () => ({ workers: Object.fromEntries([...states].map(([id, s]) => [String(id), s.status])) }),
      reload: reloadAll,
    });
  }
  const first = [...listening.values()][0]!;
  const adminText = admin ? `, admin on ${parseHostPort(cfg.admin!, true).host}:${admin.port}` : '';
  const httpText = first.http ? `, HTTP on ${first.http.host}:${first.http.port}` : '';
  log.info({ listen: `${first.host}:${first.port}`, workers: count }, `Gatehouse listening on ${first.host}:${first.port}${httpText}${adminText} (${count} workers)`);

  const onHup = (): void => void reloadAll();
  process.on('SIGHUP', onHup);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stopping = true;
  log.info({ signal }, 'stopping: each worker finishes its queries in flight');
  const exits = Object.values(cluster.workers ?? {})
    .filter((w): w is Worker => w !== undefined)
    .map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      w.once('exit', () => resolve());
      // A signal to the whole process group reached the workers already; this covers a signal to the primary only.
      w.process.kill('SIGTERM');
    }));
  // Workers finish within their shutdown timeout plus a drain; one that does not is killed.
  const grace = setTimeout(() => {
    for (const w of Object.values(cluster.workers ?? {})) if (w && !w.isDead()) w.process.kill('SIGKILL');
  }, cfg.lifecycle.shutdown_timeout_ms + 15_000);
  await Promise.all(exits);
  clearTimeout(grace);
  process.off('SIGHUP', onHup);
  await admin?.close();
  log.info('stopped');
  return 0;
}

/** The worker count a config asks for: `auto` = one per core. */
export function workerCount(cfg: GatehouseConfig, cores: number): number {
  const w = cfg.lifecycle.workers;
  return w === 'auto' ? Math.max(1, cores) : w;
}

export const isClusterWorker = (): boolean => cluster.isWorker;
