/**
 * Per-user limits: client connections, concurrent queries with a FIFO wait queue, and queries per
 * second. One UserLimiter per proxy user, shared by all of that user's sessions.
 *
 * Error codes (src/Common/ErrorCodes.cpp):
 * - max_concurrent_queries (queue full, wait timed out): 202 TOO_MANY_SIMULTANEOUS_QUERIES, the code
 *   ClickHouse itself uses for max_concurrent_queries_for_user (src/Interpreters/ProcessList.cpp).
 * - max_queries_per_second: 201 QUOTA_EXCEEDED (named QUOTA_EXPIRED before 20.x, same number), the code of
 *   ClickHouse's own rate limit, quotas (src/Access/EnabledQuota.cpp).
 * - max_connections: 202 as well. ClickHouse's nearest limit, max_sessions_for_user (23.8+), answers
 *   USER_SESSION_LIMIT_EXCEEDED, a code older servers and clients do not know (the sandbox runs 18.16);
 *   203 NO_FREE_CONNECTION means a client-side pool ran dry, which would mislead. 202 is understood by every
 *   client and driver as "back off and retry"; the message names max_connections.
 */

/** setTimeout's largest delay; a larger one silently becomes 1 ms in Node. */
const MAX_TIMER_MS = 2_147_483_647;

/** ClickHouse error numbers for limit refusals. */
export const LimitErrorCode = {
  QUOTA_EXCEEDED: 201,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
} as const;

/** The config key of the limit that refused. */
export type LimitName = 'max_connections' | 'max_concurrent_queries' | 'max_queries_per_second';

/** A refused connection or query: answer the client with an Exception carrying this code and message. */
export interface LimitRefusal {
  readonly chCode: number;
  /** Starts with "Gatehouse: " and names the user and the limit. */
  readonly message: string;
  readonly limit: LimitName;
}

/** A user's limits; null means unlimited. */
export interface UserLimitOptions {
  maxConnections: number | null;
  maxConcurrentQueries: number | null;
  /** Queries that may wait for a slot once maxConcurrentQueries run; 0 refuses at once. */
  queueSize: number;
  /** How long one query may wait in the queue; 0 refuses at once. */
  queueTimeoutMs: number;
  maxQueriesPerSecond: number | null;
}

/**
 * A proxy user without limits still gets a limiter with these, so its connections are counted: a reload that adds
 * limits then applies them to the connections already open.
 */
export const NO_LIMITS: Readonly<UserLimitOptions> = {
  maxConnections: null,
  maxConcurrentQueries: null,
  queueSize: 0,
  queueTimeoutMs: 0,
  maxQueriesPerSecond: null,
};

/** Counts for /status. */
export interface UserLimiterStats {
  connections: number;
  running: number;
  queued: number;
}

/** Gives back a connection or query slot; calling it again does nothing. */
export type Release = () => void;

/** True for a refusal (and false for a Release). */
export function isLimitRefusal(x: Release | LimitRefusal): x is LimitRefusal {
  return typeof x !== 'function';
}

interface Waiter {
  settle(result: Release | LimitRefusal): void;
}

/** The limits of one proxy user. */
export class UserLimiter {
  private opts: UserLimitOptions;
  private connections = 0;
  private running = 0;
  private readonly queue: Waiter[] = [];
  /** Token bucket for max_queries_per_second: capacity = 1 s of rate (at least 1), refilled continuously. */
  private tokens = 0;
  private refilledAt: number;

  constructor(
    readonly user: string,
    opts: UserLimitOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.opts = { ...opts };
    this.tokens = bucketSize(opts.maxQueriesPerSecond);
    this.refilledAt = now();
  }

  /** The options in force. */
  get options(): Readonly<UserLimitOptions> {
    return this.opts;
  }

  /**
   * New options (config reload). Running queries and open connections are never cut; a raised
   * max_concurrent_queries admits waiters at once; queued queries keep their place and deadline.
   */
  setOptions(opts: UserLimitOptions): void {
    const wasUnlimited = this.opts.maxQueriesPerSecond === null;
    this.refill(); // at the old rate, up to now
    this.opts = { ...opts };
    const size = bucketSize(opts.maxQueriesPerSecond);
    this.tokens = wasUnlimited ? size : Math.min(this.tokens, size); // a newly set rate starts with a full bucket
    this.wake();
  }

  /** Admits a new client connection: a release to call when it closes, or a refusal. */
  connect(): Release | LimitRefusal {
    const max = this.opts.maxConnections;
    if (max !== null && this.connections >= max) {
      return this.refusal(LimitErrorCode.TOO_MANY_SIMULTANEOUS_QUERIES, 'max_connections', `has reached max_connections (${max})`);
    }
    this.connections++;
    return once(() => {
      this.connections--;
    });
  }

  /**
   * Admits one query: resolves to a release once a slot is free (waiting FIFO in the queue), or to a
   * refusal. max_queries_per_second is checked first and counts every query that arrives, even one the
   * queue then refuses. Aborting `signal` while queued leaves the queue and resolves to a refusal
   * (nothing to send: the client is gone or cancelled).
   */
  admit(signal?: AbortSignal): Promise<Release | LimitRefusal> {
    const rate = this.opts.maxQueriesPerSecond;
    if (rate !== null) {
      this.refill();
      if (this.tokens < 1 - 1e-9) { // tolerance: refills add binary fractions (0.1 + 0.1 + …)
        return Promise.resolve(
          this.refusal(LimitErrorCode.QUOTA_EXCEEDED, 'max_queries_per_second', `has exceeded max_queries_per_second (${rate})`),
        );
      }
      this.tokens = Math.max(0, this.tokens - 1);
    }
    if (this.queue.length === 0 && this.hasSlot()) return Promise.resolve(this.take());
    const max = this.opts.maxConcurrentQueries;
    const { queueSize, queueTimeoutMs } = this.opts;
    if (queueSize <= 0 || queueTimeoutMs <= 0 || this.queue.length >= queueSize) {
      const queueNote = queueSize > 0 && queueTimeoutMs > 0 ? ` and its queue is full (queue_size ${queueSize})` : '';
      return Promise.resolve(
        this.refusal(LimitErrorCode.TOO_MANY_SIMULTANEOUS_QUERIES, 'max_concurrent_queries', `has reached max_concurrent_queries (${max})${queueNote}`),
      );
    }
    if (signal?.aborted) return Promise.resolve(this.abortRefusal());
    return new Promise<Release | LimitRefusal>((resolve) => {
      const leave = (): void => {
        const i = this.queue.indexOf(waiter);
        if (i !== -1) this.queue.splice(i, 1);
      };
      const onAbort = (): void => waiter.settle(this.abortRefusal());
      const timer = setTimeout(() => {
        waiter.settle(
          this.refusal(
            LimitErrorCode.TOO_MANY_SIMULTANEOUS_QUERIES,
            'max_concurrent_queries',
            `has reached max_concurrent_queries (${this.opts.maxConcurrentQueries}) and the query waited queue_timeout_ms (${queueTimeoutMs}) for a slot`,
          ),
        );
      }, Math.min(queueTimeoutMs, MAX_TIMER_MS));
      timer.unref();
      let settled = false;
      const waiter: Waiter = {
        settle: (result) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          leave();
          resolve(result);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /** Current counts. */
  stats(): UserLimiterStats {
    return { connections: this.connections, running: this.running, queued: this.queue.length };
  }

  private hasSlot(): boolean {
    const max = this.opts.maxConcurrentQueries;
    return max === null || this.running < max;
  }

  private take(): Release {
    this.running++;
    return once(() => {
      this.running--;
      this.wake();
    });
  }

  /** Hands free slots to waiters, oldest first. */
  private wake(): void {
    while (this.queue.length > 0 && this.hasSlot()) {
      const waiter = this.queue[0];
      waiter.settle(this.take()); // settle() removes it from the queue
    }
  }

  private refill(): void {
    const rate = this.opts.maxQueriesPerSecond;
    const t = this.now();
    const elapsedMs = Math.max(0, t - this.refilledAt);
    this.refilledAt = t;
    if (rate === null) return;
    this.tokens = Math.min(bucketSize(rate), this.tokens + (elapsedMs * rate) / 1000);
  }

  private refusal(chCode: number, limit: LimitName, what: string): LimitRefusal {
    return { chCode, limit, message: `Gatehouse: user ${this.user} ${what}` };
  }

  private abortRefusal(): LimitRefusal {
    return this.refusal(LimitErrorCode.TOO_MANY_SIMULTANEOUS_QUERIES, 'max_concurrent_queries', 'left the max_concurrent_queries queue (cancelled)');
  }
}

/** The limiters of all proxy users, one per user name, kept across config reloads. */
export class UserLimiters {
  private readonly byUser = new Map<string, UserLimiter>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The user's limiter, created on first use; later calls apply `opts` (a reload) to the same one. */
  get(user: string, opts: UserLimitOptions): UserLimiter {
    let limiter = this.byUser.get(user);
    if (limiter === undefined) {
      limiter = new UserLimiter(user, opts, this.now);
      this.byUser.set(user, limiter);
    } else if (!sameOptions(limiter.options, opts)) {
      limiter.setOptions(opts);
    }
    return limiter;
  }

  /** Per-user counts and limits, for /status. */
  stats(): Record<string, UserLimiterStats & { limits: UserLimitOptions }> {
    const out: Record<string, UserLimiterStats & { limits: UserLimitOptions }> = {};
    for (const [user, l] of this.byUser) out[user] = { ...l.stats(), limits: { ...l.options } };
    return out;
  }
}

function bucketSize(rate: number | null): number {
  return rate === null ? 0 : Math.max(1, rate);
}

function sameOptions(a: Readonly<UserLimitOptions>, b: UserLimitOptions): boolean {
  return (
    a.maxConnections === b.maxConnections &&
    a.maxConcurrentQueries === b.maxConcurrentQueries &&
    a.queueSize === b.queueSize &&
    a.queueTimeoutMs === b.queueTimeoutMs &&
    a.maxQueriesPerSecond === b.maxQueriesPerSecond
  );
}

function once(fn: () => void): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
