import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Limits } from '../protocol';
import {
  BackendConnection,
  backendLabel,
  type BackendIdentity,
  type BackendTarget,
  type BackendTlsOptions,
} from './backend-connection';
import { BackendHandshakeError, BackendUnavailableError, PoolTimeoutError, ProxyError } from './errors';

/**
 * One pool per key: forwarded bytes are valid only between legs of the same revision, and a
 * connection's default database and account are fixed by its Hello (architecture.md "Sessions on
 * pooled connections").
 */
export interface PoolKey {
  target: BackendTarget;
  identity: BackendIdentity;
  database: string;
  revision: number;
}

/** Stable text form of a key. The password is represented by a short SHA-256 prefix, never in clear. */
/** Password hashes by identity object: an identity is hashed once, not on every query. */
const passwordHashes = new WeakMap<BackendIdentity, string>();

function passwordHash(identity: BackendIdentity): string {
  let h = passwordHashes.get(identity);
  if (h === undefined) {
    h = createHash('sha256').update(identity.password, 'utf8').digest('hex').slice(0, 16);
    passwordHashes.set(identity, h);
  }
  return h;
}

export function poolKeyString(k: PoolKey): string {
  const pw = passwordHash(k.identity);
  return (
    `${encodeURIComponent(k.target.name)}=${k.target.host}:${k.target.port}` +
    `|${encodeURIComponent(k.identity.user)}#${pw}|db=${encodeURIComponent(k.database)}|rev=${k.revision}`
  );
}

export interface PoolOptions {
  /** Verify compressed-frame checksums on backend connections (default true). */
  verifyChecksums?: boolean;
  /** Idle connections kept open (opened by warm() and kept by the idle reaper). */
  minIdle: number;
  maxSize: number;
  /** How long checkout() waits in the queue. */
  waitTimeoutMs: number;
  connectTimeoutMs: number;
  /** An idle connection older than this is pinged before it is lent. */
  idleCheckMs: number;
  /** Idle connections beyond minIdle are closed after this long unused. */
  idleTimeoutMs: number;
  /** Used by callers for drain() after a cancel, and as the ping timeout. */
  drainTimeoutMs: number;
  /** A connection whose server owes an answer and sends nothing for this long is failed (0 or absent: never). */
  receiveTimeoutMs?: number;
  limits?: Limits;
  /** TLS towards the backend (backend_tls); absent or null: plain TCP. */
  tls?: BackendTlsOptions | null;
}

export interface PoolStats {
  idle: number;
  busy: number;
  connecting: number;
  waiting: number;
  size: number;
  max: number;
}

/** Events for metrics. */
export interface PoolEvents {
  /** A new backend connection completed its handshake. */
  connect: [conn: BackendConnection];
  /** Opening a connection failed. */
  connect_error: [err: ProxyError];
  /** A connection was closed and removed from the pool (broken, not reusable, idle timeout, failed ping). */
  discard: [conn: BackendConnection, reason: string];
  /** A checkout gave up after waitTimeoutMs. */
  timeout: [err: PoolTimeoutError];
  /** A checkout got its connection after waiting waitMs (a connect or a ping included, when one was needed). */
  checkout: [conn: BackendConnection, waitMs: number];
}

interface Waiter {
  resolve(conn: BackendConnection): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  settled: boolean;
  /** performance.now() at checkout(), for the 'checkout' event. */
  queuedAt: number;
}

/**
 * Connections to one backend for one key: FIFO wait queue, at most maxSize open or opening,
 * idle connections reused most-recent-first (so the others can age out), pinged before reuse when
 * idle longer than idleCheckMs. A connection is lent for one query and comes back through release().
 */
export class Pool extends EventEmitter<PoolEvents> {
  readonly key: PoolKey;
  /** "writer (127.0.0.1:9000) as gh_writer" */
  readonly label: string;
  private readonly opts: PoolOptions;
  private maxSize: number;
  /** Most recently released last. */
  private readonly idle: BackendConnection[] = [];
  private readonly busy = new Set<BackendConnection>();
  private connecting = 0;
  /** Connects started on behalf of waiters (a failure rejects one waiter). */
  private connectingForWaiters = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;
  /**
   * The backend refused our handshake (wrong password, missing database): not transient, so
   * warm() stops opening connections until a checkout's connect succeeds again.
   */
  private refused = false;
  /** Last checkout, for PoolManager's sweep of unused pools. */
  lastUsedAt = Date.now();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly reaper: NodeJS.Timeout;
  /** Counters, for stats and tests. */
  readonly counters = { connects: 0, connectErrors: 0, discards: 0, timeouts: 0, pings: 0 };

  constructor(key: PoolKey, opts: PoolOptions) {
    super();
    if (opts.maxSize < 1) throw new RangeError(`pool maxSize must be >= 1 (got ${opts.maxSize})`);
    this.key = key;
    this.opts = opts;
    this.maxSize = opts.maxSize;
    this.label = backendLabel(key.target, key.identity);
    const every = Math.max(50, Math.min(5_000, Math.floor(opts.idleTimeoutMs / 2)));
    this.reaper = setInterval(() => this.reap(), every);
    this.reaper.unref();
  }

  /**
   * The fast path of checkout(): an idle connection lent at once, with no promise, timer or queue entry (they cost
   * ~10 µs on every query's way to the backend). Null when checkout() must be used: waiters queued ahead (FIFO), no
   * idle connection, or the one at hand has been idle long enough to be pinged first.
   */
  tryCheckout(): BackendConnection | null {
    if (this.closed || this.waiters.length > 0) return null;
    for (;;) {
      const conn = this.idle.at(-1);
      if (conn === undefined) return null;
      if (conn.broken) {
        this.idle.pop();
        this.discard(conn, 'broken');
        continue;
      }
      if (this.needsCheck(conn)) return null;
      this.idle.pop();
      this.lastUsedAt = Date.now();
      this.markLent(conn, 0);
      return conn;
    }
  }

  /**
   * Lend a connection: an idle one (pinged first when idle longer than idleCheckMs) or a new one.
   * Rejects PoolTimeoutError after waitTimeoutMs, or the connect error (BackendUnavailableError,
   * BackendHandshakeError) of the attempt made for this request.
   */
  checkout(): Promise<BackendConnection> {
    if (this.closed) return Promise.reject(this.closedError());
    this.lastUsedAt = Date.now();
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        settled: false,
        queuedAt: performance.now(),
        timer: setTimeout(() => {
          if (w.settled) return;
          this.removeWaiter(w);
          const err = new PoolTimeoutError(this.label, this.opts.waitTimeoutMs, this.maxSize);
          this.counters.timeouts++;
          this.settle(w, err);
          this.emit('timeout', err);
        }, this.opts.waitTimeoutMs),
      };
      this.waiters.push(w);
      this.dispatch();
    });
  }

  /**
   * Return a connection. reusable=false, a broken connection, or one still inside a query is
   * destroyed (and a waiter gets a new one). The caller releases as reusable only idle, in-sync
   * connections.
   */
  release(conn: BackendConnection, reusable: boolean): void {
    if (conn.endedInException && reusable && !conn.broken && !conn.inQuery && !this.closed) {
      // The connection's state after the last query is in doubt (it ended in an Exception:
      // BackendConnection.endedInException). Ping it before anyone gets it; the Pong clears the doubt.
      if (!this.busy.has(conn)) return;
      conn.onPacket = null;
      conn.onFailure = null;
      conn.resume();
      this.counters.pings++;
      const p = conn.ping(this.opts.drainTimeoutMs).then(
        () => this.release(conn, true),
        () => this.release(conn, false),
      );
      this.track(p);
      return;
    }
    if (!this.busy.delete(conn)) return; // not ours, or released twice
    conn.onPacket = null;
    conn.onFailure = null;
    // Resuming delivers packets held back by pause(); any with no borrower breaks the connection.
    if (reusable) conn.resume();
    const reason = !reusable
      ? 'not reusable'
      : conn.broken
        ? 'broken'
        : conn.inQuery
          ? 'released mid-query'
          : this.closed
            ? 'pool closed'
            : this.stats().size >= this.maxSize
              ? 'pool shrunk'
              : null;
    if (reason) {
      this.discard(conn, reason);
    } else {
      conn.lastUsedAt = Date.now();
      this.idle.push(conn);
    }
    this.dispatch();
  }

  stats(): PoolStats {
    const size = this.idle.length + this.busy.size + this.connecting;
    return {
      idle: this.idle.length,
      busy: this.busy.size,
      connecting: this.connecting,
      waiting: this.waiters.length,
      size,
      max: this.maxSize,
    };
  }

  /** Current maximum (the manager may raise or lower it once the backend's core count is known). */
  get max(): number {
    return this.maxSize;
  }

  setMaxSize(n: number): void {
    if (n < 1) throw new RangeError(`pool maxSize must be >= 1 (got ${n})`);
    this.maxSize = n;
    this.dispatch();
  }

  /** Open connections up to minIdle in the background; failures are counted and emitted, not thrown. */
  warm(): void {
    if (this.closed || this.refused) return;
    const s = this.stats();
    const want = Math.min(this.opts.minIdle - s.idle - s.connecting, this.maxSize - s.size);
    for (let i = 0; i < want; i++) this.open(false);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Destroy every connection and reject every waiter; resolves once in-flight connects have settled. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.reaper);
    const err = this.closedError();
    for (const w of this.waiters.splice(0)) this.settle(w, err);
    for (const c of this.idle.splice(0)) c.destroy('closed: pool closed');
    for (const c of [...this.busy]) c.fail(err);
    await Promise.allSettled([...this.inflight]);
  }

  private closedError(): BackendUnavailableError {
    return new BackendUnavailableError(`Gatehouse: pool for ${this.label} is closed`);
  }

  private settle(w: Waiter, result: BackendConnection | Error): void {
    if (w.settled) return;
    w.settled = true;
    clearTimeout(w.timer);
    if (result instanceof BackendConnection) w.resolve(result);
    else w.reject(result);
  }

  private removeWaiter(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** Serve waiters in order: idle connections first, then new connections while below maxSize. */
  private dispatch(): void {
    if (this.closed) return;
    while (this.waiters.length > 0 && this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (conn.broken) {
        this.discard(conn, 'broken');
        continue;
      }
      const w = this.waiters.shift()!;
      if (this.needsCheck(conn)) {
        this.checkThenLend(conn, w);
      } else {
        this.lend(conn, w);
      }
    }
    // Waiters not covered by a connect in flight get one each, up to maxSize.
    while (this.waiters.length > this.connectingForWaiters && this.stats().size < this.maxSize) {
      this.open(true);
    }
  }

  private lend(conn: BackendConnection, w: Waiter): void {
    this.settle(w, conn);
    this.markLent(conn, performance.now() - w.queuedAt);
  }

  /** The connection is the borrower's from now on (both checkout paths). */
  private markLent(conn: BackendConnection, waitMs: number): void {
    this.busy.add(conn);
    conn.lastUsedAt = Date.now();
    this.emit('checkout', conn, waitMs);
  }

  /** Idle long enough to be pinged before it is lent. */
  private needsCheck(conn: BackendConnection): boolean {
    return Date.now() - conn.lastUsedAt > this.opts.idleCheckMs;
  }

  /** Ping a long-idle connection before lending it; the waiter keeps its place in the queue if it fails. */
  private checkThenLend(conn: BackendConnection, w: Waiter): void {
    this.busy.add(conn); // counted as busy while pinging, so size stays right
    this.counters.pings++;
    const p = conn.ping(this.opts.drainTimeoutMs).then(
      () => {
        this.busy.delete(conn);
        if (this.closed) return conn.destroy('closed: pool closed');
        if (w.settled) {
          conn.lastUsedAt = Date.now();
          this.idle.push(conn);
        } else {
          this.lend(conn, w);
        }
        this.dispatch();
      },
      (err: ProxyError) => {
        this.busy.delete(conn);
        this.discard(conn, `ping failed: ${err.message}`);
        if (!w.settled && !this.closed) this.waiters.unshift(w);
        this.dispatch();
      },
    );
    this.track(p);
  }

  /** Start one connect; `forWaiter` connects hand their failure to the oldest waiter. */
  private open(forWaiter: boolean): void {
    this.connecting++;
    if (forWaiter) this.connectingForWaiters++;
    const { target, identity, database, revision } = this.key;
    const p = BackendConnection.connect({
      target,
      identity,
      database,
      revision,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      receiveTimeoutMs: this.opts.receiveTimeoutMs,
      limits: this.opts.limits,
      verifyChecksums: this.opts.verifyChecksums,
      tls: this.opts.tls,
    }).then(
      (conn) => {
        this.connecting--;
        if (forWaiter) this.connectingForWaiters--;
        this.counters.connects++;
        this.refused = false;
        if (this.closed) return conn.destroy('closed: pool closed');
        conn.addCloseListener(() => this.onClosed(conn));
        this.emit('connect', conn);
        this.idle.push(conn);
        this.dispatch();
      },
      (err: unknown) => {
        this.connecting--;
        if (forWaiter) this.connectingForWaiters--;
        this.counters.connectErrors++;
        const e = err instanceof ProxyError ? err : new BackendUnavailableError(`Gatehouse: no connection to ${this.label}`, { cause: err });
        if (e instanceof BackendHandshakeError) this.refused = true;
        if (this.closed) return;
        // A failed connect ends one request (the oldest not covered by another connect in flight);
        // the others keep waiting.
        if (forWaiter && this.waiters.length > this.connectingForWaiters) {
          const w = this.waiters.shift();
          if (w) this.settle(w, e);
        }
        this.emit('connect_error', e);
        this.dispatch();
      },
    );
    this.track(p);
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** A connection closed by itself (server gone, protocol error): drop it if it was idle. */
  private onClosed(conn: BackendConnection): void {
    const i = this.idle.indexOf(conn);
    if (i < 0) return; // busy ones are discarded when the borrower releases them
    this.idle.splice(i, 1);
    this.counters.discards++;
    this.emit('discard', conn, 'closed while idle');
  }

  private discard(conn: BackendConnection, reason: string): void {
    conn.destroy(`closed: ${reason}`);
    this.counters.discards++;
    this.emit('discard', conn, reason);
  }

  /** Close connections idle longer than idleTimeoutMs beyond minIdle, then top up to minIdle. */
  private reap(): void {
    if (this.closed) return;
    const now = Date.now();
    // Oldest first: idle[0] was released longest ago.
    while (this.idle.length > this.opts.minIdle && now - this.idle[0].lastUsedAt > this.opts.idleTimeoutMs) {
      this.discard(this.idle.shift()!, 'idle timeout');
    }
    this.warm();
  }
}
