import { EventEmitter } from 'node:events';
import { PROXY_MAX_REVISION } from '../protocol';
import { BackendConnection, type BackendIdentity, type BackendTarget, type BackendTlsOptions } from './backend-connection';
import { runQuery } from './backend-query';
import { BackendUnavailableError, ProxyError } from './errors';

/** ClickHouse's own view of replication lag (seconds behind the most up-to-date replica). */
export const DEFAULT_REPLICA_DELAY_QUERY = 'SELECT max(absolute_delay) FROM system.replicas';

export interface HealthOptions {
  /** Pause between the end of one active check of a backend and the start of the next. */
  intervalMs: number;
  /** Bound on each step of a check: connect + handshake, Ping, lag query. */
  timeoutMs: number;
  /** Consecutive failures (active or passive) that ban a backend. */
  failuresToBan: number;
  /** First ban length; each ban renewed without a successful check in between doubles it. */
  banMs: number;
  maxBanMs: number;
  /** Readers whose delay exceeds this are lagging; null = lag is not checked. */
  maxReplicaDelaySeconds: number | null;
  /** Returns one number: the replica's delay in seconds. */
  replicaDelayQuery: string;
  /** TLS towards the backends, as for the pools (a check must reach the port the traffic uses). */
  tls?: BackendTlsOptions | null;
}

/** What `/status` shows about one backend. */
export interface BackendStatus {
  name: string;
  /** host:port */
  address: string;
  role: 'writer' | 'reader';
  /** Not banned and no failure since the last success. */
  healthy: boolean;
  banned: boolean;
  /** e.g. "3 consecutive failures: no connection to reader1 (127.0.0.1:9001) as gh_reader: ECONNREFUSED" */
  banReason: string | null;
  /** Epoch ms at which the ban ends unless renewed or lifted by a successful check. */
  bannedUntil: number | null;
  consecutiveFailures: number;
  /** Epoch ms at which the last active check ended (null before the first). */
  lastCheckMs: number | null;
  replicaDelaySeconds: number | null;
  lagging: boolean;
  /** Queries in flight on this backend, as counted by the balancers. */
  outstanding: number;
  weight: number;
}

/** Why a ban ended. */
export type UnbanCause = 'check succeeded' | 'ban expired';

export interface HealthEvents {
  /** A backend was banned, or its ban renewed with a longer duration. */
  ban: [status: BackendStatus];
  unban: [status: BackendStatus, cause: UnbanCause];
}

/** What the balancer needs to know about a backend: the read side of HealthMonitor. */
export interface ReplicaHealth {
  isBanned(target: BackendTarget): boolean;
  isLagging(target: BackendTarget): boolean;
  replicaDelaySeconds(target: BackendTarget): number | null;
  /** Lets status() report the balancers' outstanding counts. */
  addOutstandingSource?(source: (name: string) => number): void;
}

export interface MonitoredBackend {
  target: BackendTarget;
  role: 'writer' | 'reader';
  weight: number;
}

interface Entry extends MonitoredBackend {
  banned: boolean;
  banReason: string | null;
  bannedUntil: number | null;
  /** Bans since the last successful check: the next ban lasts banMs × 2^bans (capped). */
  bans: number;
  banTimer: NodeJS.Timeout | null;
  consecutiveFailures: number;
  /** Reason of the latest failure (for a renewed ban's reason). */
  lastFailure: string | null;
  lastCheckMs: number | null;
  /** The last active check failed (a ban then renews on expiry instead of ending). */
  lastCheckFailed: boolean;
  replicaDelaySeconds: number | null;
  lagging: boolean;
  conn: BackendConnection | null;
  checkTimer: NodeJS.Timeout | null;
  checking: Promise<void> | null;
}

/**
 * Health of the backends: an active check per backend (Ping on a dedicated connection, optionally
 * the replica-delay query on readers) plus passive reports from the proxy's own traffic. After
 * failuresToBan consecutive failures a backend is banned for banMs, doubling up to maxBanMs while
 * it keeps failing; the checker keeps probing a banned backend and its first success lifts the ban.
 * Backends are keyed by target name. The writer is monitored like the others: its status is
 * reported, but replacing it is never this class's (or the balancer's) decision.
 */
export class HealthMonitor extends EventEmitter<HealthEvents> implements ReplicaHealth {
  private readonly entries = new Map<string, Entry>();
  private readonly opts: HealthOptions;
  private readonly identity: (t: BackendTarget) => BackendIdentity;
  private readonly outstandingSources: ((name: string) => number)[] = [];
  private started = false;
  private closed = false;

  constructor(backends: MonitoredBackend[], identity: (t: BackendTarget) => BackendIdentity, opts: HealthOptions) {
    super();
    if (!(opts.failuresToBan >= 1)) throw new RangeError(`failuresToBan must be >= 1 (got ${opts.failuresToBan})`);
    if (!(opts.intervalMs > 0 && opts.timeoutMs > 0)) throw new RangeError('intervalMs and timeoutMs must be > 0');
    this.opts = opts;
    this.identity = identity;
    for (const b of backends) {
      if (this.entries.has(b.target.name)) throw new RangeError(`backend name ${JSON.stringify(b.target.name)} used twice`);
      this.entries.set(b.target.name, {
        ...b,
        banned: false,
        banReason: null,
        bannedUntil: null,
        bans: 0,
        banTimer: null,
        consecutiveFailures: 0,
        lastFailure: null,
        lastCheckMs: null,
        lastCheckFailed: false,
        replicaDelaySeconds: null,
        lagging: false,
        conn: null,
        checkTimer: null,
        checking: null,
      });
    }
  }

  /** Starts the active checks: one right away per backend, then every intervalMs. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const e of this.entries.values()) this.runCheck(e);
  }

  /** Stops the checks and closes their connections; resolves once no check is in flight. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const inflight: Promise<void>[] = [];
    for (const e of this.entries.values()) {
      if (e.checkTimer) clearTimeout(e.checkTimer);
      if (e.banTimer) clearTimeout(e.banTimer);
      e.checkTimer = e.banTimer = null;
      // fail(), not destroy(): a lag query in flight must settle now, not at its timeout.
      e.conn?.fail(new BackendUnavailableError('Gatehouse: health monitor closed'));
      e.conn = null;
      if (e.checking) inflight.push(e.checking);
    }
    // A connect in flight settles within timeoutMs; runCheck closes what it returns.
    await Promise.allSettled(inflight);
  }

  /** A failure seen on the proxy's own traffic (connect error, protocol error, timeout). */
  reportFailure(target: BackendTarget, reason: string): void {
    const e = this.entries.get(target.name);
    if (e && !this.closed) this.fail(e, stripPrefix(reason));
  }

  /**
   * A query succeeded on the proxy's own traffic: resets the failure count. It does not lift a ban
   * (the query may have started before it); only an active check does.
   */
  reportSuccess(target: BackendTarget): void {
    const e = this.entries.get(target.name);
    if (e && !e.banned) e.consecutiveFailures = 0;
  }

  /** Neither banned nor lagging. Unknown targets are available (nothing is known against them). */
  isAvailable(target: BackendTarget): boolean {
    const e = this.entries.get(target.name);
    return !e || (!e.banned && !e.lagging);
  }

  isBanned(target: BackendTarget): boolean {
    return this.entries.get(target.name)?.banned ?? false;
  }

  isLagging(target: BackendTarget): boolean {
    return this.entries.get(target.name)?.lagging ?? false;
  }

  replicaDelaySeconds(target: BackendTarget): number | null {
    return this.entries.get(target.name)?.replicaDelaySeconds ?? null;
  }

  addOutstandingSource(source: (name: string) => number): void {
    this.outstandingSources.push(source);
  }

  /** One row per backend, in construction order. */
  status(): BackendStatus[] {
    return [...this.entries.values()].map((e) => this.statusOf(e));
  }

  private statusOf(e: Entry): BackendStatus {
    let outstanding = 0;
    for (const source of this.outstandingSources) outstanding += source(e.target.name);
    return {
      name: e.target.name,
      address: `${e.target.host}:${e.target.port}`,
      role: e.role,
      healthy: !e.banned && e.consecutiveFailures === 0,
      banned: e.banned,
      banReason: e.banReason,
      bannedUntil: e.bannedUntil,
      consecutiveFailures: e.consecutiveFailures,
      lastCheckMs: e.lastCheckMs,
      replicaDelaySeconds: e.replicaDelaySeconds,
      lagging: e.lagging,
      outstanding,
      weight: e.weight,
    };
  }

  private fail(e: Entry, reason: string): void {
    e.consecutiveFailures++;
    e.lastFailure = reason;
    if (!e.banned && e.consecutiveFailures >= this.opts.failuresToBan) {
      this.ban(e, `${e.consecutiveFailures} consecutive failures: ${reason}`);
    }
  }

  private ban(e: Entry, reason: string): void {
    const ms = Math.min(this.opts.banMs * 2 ** e.bans, this.opts.maxBanMs);
    e.bans++;
    e.banned = true;
    e.banReason = reason;
    e.bannedUntil = Date.now() + ms;
    if (e.banTimer) clearTimeout(e.banTimer);
    e.banTimer = setTimeout(() => this.onBanExpired(e), ms);
    e.banTimer.unref();
    this.emit('ban', this.statusOf(e));
  }

  /**
   * While the checker runs and its last check failed, the ban is renewed (doubled): letting traffic
   * try a backend the checker cannot reach would only cost clients a connect timeout. Otherwise
   * (checker not running, e.g. in tests) the ban ends and the next failure bans again at once,
   * since consecutiveFailures is still at the threshold.
   */
  private onBanExpired(e: Entry): void {
    e.banTimer = null;
    if (this.closed || !e.banned) return;
    if (this.started && e.lastCheckFailed) {
      this.ban(e, `${e.consecutiveFailures} consecutive failures: ${e.lastFailure ?? 'unknown'}`);
      return;
    }
    this.unban(e, 'ban expired');
  }

  private unban(e: Entry, cause: UnbanCause): void {
    if (e.banTimer) clearTimeout(e.banTimer);
    e.banTimer = null;
    e.banned = false;
    e.banReason = null;
    e.bannedUntil = null;
    if (cause === 'check succeeded') e.bans = 0;
    this.emit('unban', this.statusOf(e), cause);
  }

  private succeed(e: Entry): void {
    e.consecutiveFailures = 0;
    if (e.banned) this.unban(e, 'check succeeded');
  }

  private runCheck(e: Entry): void {
    e.checkTimer = null;
    if (this.closed) return;
    // finally: a throwing 'ban'/'unban' listener still surfaces, but does not stop the checks.
    const checking = this.check(e).finally(() => {
      e.checking = null;
      if (this.closed) return;
      e.checkTimer = setTimeout(() => this.runCheck(e), this.opts.intervalMs);
      e.checkTimer.unref();
    });
    e.checking = checking;
  }

  /** One active check; rejects only if a 'ban'/'unban' listener throws. */
  private async check(e: Entry): Promise<void> {
    const { timeoutMs } = this.opts;
    let failure: string | null = null;
    try {
      let conn = e.conn;
      if (!conn || conn.broken) {
        e.conn = null;
        conn = await BackendConnection.connect({
          target: e.target,
          identity: this.identity(e.target),
          database: '',
          // The handshake settles on min(ours, server's).
          revision: PROXY_MAX_REVISION,
          clientName: 'Gatehouse health check',
          connectTimeoutMs: timeoutMs,
          tls: this.opts.tls,
        });
        if (this.closed) {
          conn.destroy('closed: health monitor closed');
          return;
        }
        e.conn = conn;
      }
      await conn.ping(timeoutMs);
      if (this.closed) return;
      if (e.role === 'reader' && this.opts.maxReplicaDelaySeconds !== null) await this.checkLag(e, conn);
    } catch (err) {
      failure = err instanceof Error ? stripPrefix(err.message) : String(err);
    }
    if (this.closed) return;
    e.lastCheckMs = Date.now();
    e.lastCheckFailed = failure !== null;
    if (failure === null) return this.succeed(e);
    // Reconnect on the next check: after a failure the connection's state is not to be trusted.
    e.conn?.destroy('closed: health check failed');
    e.conn = null;
    this.fail(e, failure);
  }

  /**
   * Runs the delay query. A server Exception (a wrong configured query, a missing table) leaves
   * the delay unknown and the reader not lagging: the server did answer, so it is no health failure.
   */
  private async checkLag(e: Entry, conn: BackendConnection): Promise<void> {
    let delay: number | null = null;
    try {
      const res = await runQuery(conn, this.opts.replicaDelayQuery, this.opts.timeoutMs);
      delay = toSeconds(res.rows[0]?.[0]);
    } catch (err) {
      if (!(err instanceof ProxyError) || conn.broken) throw err;
    }
    const max = this.opts.maxReplicaDelaySeconds;
    e.replicaDelaySeconds = delay;
    e.lagging = delay !== null && max !== null && delay > max;
  }
}

/** A delay cell as a number of seconds: UInt32/UInt64/Float/String/Nullable all occur. */
function toSeconds(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** Our error messages start with "Gatehouse: "; a ban reason reads better without it. */
function stripPrefix(message: string): string {
  return message.startsWith('Gatehouse: ') ? message.slice('Gatehouse: '.length) : message;
}
