/**
 * The two timeouts of a logged-in client connection, as ClickHouse's TCPHandler has them: idle_connection_timeout
 * (3600 s: between queries it polls for the next packet that long, then closes without a word, TCPHandler::runImpl)
 * and receive_timeout (300 s: the socket's receive timeout, so a packet that stops half-way makes the read throw
 * SOCKET_TIMEOUT, 209, which is sent to the client before the connection is closed; ReadBufferFromPocoSocket::nextImpl).
 */

/** Default of connections.idle_timeout_ms (ClickHouse's idle_connection_timeout). */
export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
/** Default of connections.receive_timeout_ms (ClickHouse's receive_timeout). */
export const DEFAULT_CLIENT_RECEIVE_TIMEOUT_MS = 300_000;
/** With both timeouts off, how often a session still looks at its settings (a reload may turn them on). */
const RECHECK_WHEN_OFF_MS = 60_000;

/** The current values (read at every check, so that a reload reaches open connections). 0: off. */
export interface ClientTimeoutSettings {
  idleTimeoutMs: number;
  receiveTimeoutMs: number;
}

/** What the watchdog asks its session at each check. */
export interface WatchedClient {
  /** A query of this client is being placed or relayed: the idle clock does not run. */
  busy(): boolean;
  /** The client's framer holds part of a packet. */
  partialPacket(): boolean;
  /** The proxy stopped reading the client (backpressure): the silence is the proxy's, not the client's. */
  readingPaused(): boolean;
  /** No query and no byte for idleTimeoutMs. */
  onIdle(ms: number): void;
  /** Part of a packet, then nothing for receiveTimeoutMs. */
  onPartialPacket(ms: number): void;
}

/**
 * One timer per connection, never touched on the hot path: reads and the end of each piece of work only record a
 * timestamp, and the timer, when it fires, works out from the timestamps whether a limit has passed or when to look
 * again (at the deadline, or within the shorter limit, since a packet may start or a query end meanwhile).
 */
export class ClientWatchdog {
  private lastReadAt = Date.now();
  private lastActiveAt = this.lastReadAt;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly client: WatchedClient,
    private readonly settings: () => ClientTimeoutSettings,
  ) {}

  /** Starts watching (after the login: the Hello has a timeout of its own). */
  start(): void {
    if (this.stopped) return;
    this.lastReadAt = this.lastActiveAt = Date.now();
    this.schedule(this.lastReadAt);
  }

  /** Bytes arrived from the client. */
  read(now: number): void {
    this.lastReadAt = now;
  }

  /** The session finished handling packets or a query: the idle clock starts again from here. */
  active(now: number): void {
    this.lastActiveAt = now;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private check(): void {
    this.timer = null;
    if (this.stopped) return;
    const now = Date.now();
    const { idleTimeoutMs, receiveTimeoutMs } = this.settings();
    const c = this.client;
    if (c.readingPaused()) this.lastReadAt = now;
    const busy = c.busy();
    if (busy) this.lastActiveAt = now;
    let due = Infinity;
    if (c.partialPacket()) {
      if (receiveTimeoutMs > 0) due = this.lastReadAt + receiveTimeoutMs;
      if (due <= now) return c.onPartialPacket(receiveTimeoutMs);
    } else if (!busy && idleTimeoutMs > 0) {
      due = Math.max(this.lastReadAt, this.lastActiveAt) + idleTimeoutMs;
      if (due <= now) return c.onIdle(idleTimeoutMs);
    }
    this.schedule(now, due);
  }

  private schedule(now: number, due = Infinity): void {
    const { idleTimeoutMs, receiveTimeoutMs } = this.settings();
    const limits = [idleTimeoutMs, receiveTimeoutMs].filter((ms) => ms > 0);
    const period = limits.length > 0 ? Math.min(...limits) : RECHECK_WHEN_OFF_MS;
    const delay = Math.max(1, Math.min(due, now + period) - now);
    this.timer = setTimeout(() => this.check(), delay);
    this.timer.unref();
  }
}
