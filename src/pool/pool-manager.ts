import { PROXY_MAX_REVISION } from '../protocol';
import { BackendConnection, type BackendIdentity, type BackendTarget, type ServerInfo } from './backend-connection';
import { runQuery } from './backend-query';
import { Pool, poolKeyString, type PoolKey, type PoolOptions } from './pool';

export interface PoolManagerOptions extends Omit<PoolOptions, 'maxSize'> {
  /** Per-pool maximum; null → (backend cores × 2) + 1, cores read once per target. */
  maxSize: number | null;
}

/** Cores assumed when the backend cannot be asked (the pool then allows 9 connections). */
export const FALLBACK_CORES = 4;

/** (cores × 2) + 1, the usual sizing for a server that spends part of each query waiting on I/O. */
export function maxSizeForCores(cores: number): number {
  return Math.max(1, Math.floor(cores)) * 2 + 1;
}

/**
 * The backend's core count from `SELECT value FROM system.settings WHERE name = 'max_threads'`:
 * 18.16 prints the number ("2"); later versions print "auto(2)" or "'auto(2)'". Null if no number.
 */
export function parseMaxThreads(value: string): number | null {
  const m = /(\d+)/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

function targetKey(t: BackendTarget): string {
  return `${t.host}:${t.port}`;
}

/**
 * All pools of the process, one per PoolKey, created lazily and warmed. Also the backends'
 * ServerInfo (what the proxy presents to clients) and their default pool size.
 */
/** How long a pool with no connection is kept once unused. */
const EMPTY_POOL_TTL_MS = 5_000;

export class PoolManager {
  private readonly opts: PoolManagerOptions;
  private readonly pools = new Map<string, Pool>();
  private readonly infos = new Map<string, ServerInfo>();
  private readonly infoInflight = new Map<string, Promise<ServerInfo>>();
  private readonly cores = new Map<string, number>();
  private readonly coresInflight = new Map<string, Promise<number>>();
  private closed = false;
  /** Called for every pool created (metrics subscribe to its events here). */
  onPoolCreated: ((pool: Pool) => void) | null = null;

  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: PoolManagerOptions) {
    this.opts = opts;
    // Pools nobody used for idle_timeout_ms are closed: keys come from clients (databases,
    // pass-through users and passwords), so they must not accumulate.
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(opts.idleTimeoutMs, EMPTY_POOL_TTL_MS * 2) / 2));
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, pool] of this.pools) {
      const s = pool.stats();
      const unused = now - pool.lastUsedAt;
      // A pool holding no connection at all (e.g. one a failed pass-through login made, its user or password wrong)
      // goes soon: anyone can make such pools by connecting with made-up names, so they must not pile up.
      const empty = s.idle === 0 && unused > EMPTY_POOL_TTL_MS;
      if (s.busy === 0 && s.waiting === 0 && s.connecting === 0 && (empty || unused > this.opts.idleTimeoutMs)) {
        this.pools.delete(k);
        void pool.close();
      }
    }
  }

  /** The pool of `key`, created (and warmed) on first use. */
  pool(key: PoolKey): Pool {
    const ks = poolKeyString(key);
    const existing = this.pools.get(ks);
    if (existing) return existing;
    if (this.closed) throw new Error('PoolManager is closed');
    const tk = targetKey(key.target);
    const known = this.cores.get(tk);
    const maxSize = this.opts.maxSize ?? maxSizeForCores(known ?? FALLBACK_CORES);
    const pool = new Pool(key, { ...this.opts, maxSize });
    this.pools.set(ks, pool);
    // A fresh handshake refreshes the presented ServerInfo.
    pool.on('connect', (conn) => this.infos.set(tk, conn.serverInfo));
    // A failed connect keeps the last known ServerInfo: clients can still log in (and read from
    // the readers) while the writer is down.
    if (this.opts.maxSize === null && known === undefined) {
      void this.defaultMaxSize(key.target, key.identity).then((n) => {
        if (!this.closed) pool.setMaxSize(n);
      });
    }
    this.onPoolCreated?.(pool);
    pool.warm();
    return pool;
  }

  /**
   * ServerInfo of a target from a handshake (cached; pool connects refresh it, connect failures
   * clear it). Rejects with the handshake's ProxyError.
   */
  serverInfo(target: BackendTarget, identity: BackendIdentity): Promise<ServerInfo> {
    const tk = targetKey(target);
    const cached = this.infos.get(tk);
    if (cached) return Promise.resolve(cached);
    const inflight = this.infoInflight.get(tk);
    if (inflight) return inflight;
    const p = BackendConnection.connect({
      target,
      identity,
      database: '',
      revision: PROXY_MAX_REVISION,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      limits: this.opts.limits,
      tls: this.opts.tls,
    })
      .then((conn) => {
        conn.destroy('closed: handshake only');
        this.infos.set(tk, conn.serverInfo);
        return conn.serverInfo;
      })
      .finally(() => this.infoInflight.delete(tk));
    this.infoInflight.set(tk, p);
    return p;
  }

  /** Forget a target's cached ServerInfo (the next serverInfo() does a handshake). */
  invalidateServerInfo(target: BackendTarget): void {
    this.infos.delete(targetKey(target));
  }

  /**
   * The default max pool size for a target: (cores × 2) + 1, cores read once from the backend
   * (FALLBACK_CORES when it cannot be asked; a failure is not cached, the next pool asks again).
   */
  defaultMaxSize(target: BackendTarget, identity: BackendIdentity): Promise<number> {
    return this.backendCores(target, identity).then(maxSizeForCores);
  }

  /** Core count of a target (cached after the first successful read), or FALLBACK_CORES. */
  backendCores(target: BackendTarget, identity: BackendIdentity): Promise<number> {
    const tk = targetKey(target);
    const known = this.cores.get(tk);
    if (known !== undefined) return Promise.resolve(known);
    const inflight = this.coresInflight.get(tk);
    if (inflight) return inflight;
    const p = this.readCores(target, identity)
      .then((n) => {
        this.cores.set(tk, n);
        return n;
      })
      .catch(() => FALLBACK_CORES)
      .finally(() => this.coresInflight.delete(tk));
    this.coresInflight.set(tk, p);
    return p;
  }

  private async readCores(target: BackendTarget, identity: BackendIdentity): Promise<number> {
    const conn = await BackendConnection.connect({
      target,
      identity,
      database: '',
      revision: PROXY_MAX_REVISION,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      limits: this.opts.limits,
      tls: this.opts.tls,
    });
    try {
      const res = await runQuery(conn, "SELECT value FROM system.settings WHERE name = 'max_threads'", this.opts.connectTimeoutMs);
      const n = res.rows.length > 0 ? parseMaxThreads(String(res.rows[0][0])) : null;
      if (n === null) throw new Error('max_threads has no number');
      return n;
    } finally {
      conn.destroy('closed: core count read');
    }
  }

  allPools(): Pool[] {
    return [...this.pools.values()];
  }

  /** Close every pool (connections destroyed, waiters rejected). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}
