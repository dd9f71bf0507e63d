import { BackendTimeoutError, BackendUnavailableError, type BackendConnection, type ProxyError } from '../pool';
import { ServerCode, type FramedPacket } from '../protocol';
import type { QueryError } from './session-types';

/**
 * Where a run writes the server's packets: the client's socket (ClientSink), or a cache flight that shares one
 * execution among several clients (cache-flight.ts). `packet` is given for server packets, absent for bytes the
 * proxy made (its own Exception).
 */
export interface RunSink {
  write(chunks: readonly Buffer[], packet?: FramedPacket): boolean;
  onDrain(fn: () => void): void;
  pauseUntil(register: (resume: () => void) => void): void;
  sendError(err: unknown): void;
}

export interface QueryRunOptions {
  /** The statement is an INSERT whose data the client sends after the server's header block. */
  insertExpectsData: boolean;
  /** 'buffer': read the whole result (up to bufferMaxBytes) before sending it, to free the backend early. */
  resultBuffering: 'stream' | 'buffer';
  bufferMaxBytes: number;
  drainTimeoutMs: number;
  /** The client may leave its socket full for this long; then onClientStalled (0: no limit). */
  maxPausedMs?: number;
  /** A failure before any byte reached the client may be retried elsewhere (reads only, issue 4 failover). */
  retriable: boolean;
}

export interface QueryRunHooks {
  /**
   * The backend failed before any byte of the result reached the client and the run is
   * retriable: the caller runs the query again elsewhere (the client sees nothing of this one).
   */
  onRetry?(err: ProxyError): void;
  /** The client has not read for maxPausedMs while the backend waits: the caller closes it (abandon() follows). */
  onClientStalled?(): void;
  /** The server sent the INSERT header: the client now sends data blocks until an empty one. */
  onClientDataPhase(): void;
  /** Whether the client still owes the end of a data phase (an empty Data block). */
  clientDataOpen(): boolean;
  /** The query ended (EndOfStream, Exception, or failure); reusable says whether the backend may be reused. */
  onDone(result: { reusable: boolean; error?: QueryError }): void;
}

/**
 * One query on one backend connection: the client's packets go up unchanged, the server's
 * packets come back unchanged, with backpressure both ways (architecture.md "Streaming and
 * memory"). The connection is given back only idle and in sync: after EndOfStream or Exception,
 * and only if the client is not in the middle of a data phase (the server would still be
 * skipping its data, TCPHandler::skipData).
 */
export class QueryRun {
  private done = false;
  private cancelled = false;
  private headerSeen = false;
  private buffered: FramedPacket[] | null;
  private bufferedBytes = 0;
  private waitingForDrain = false;
  /** Bytes written to the backend for this query (Query and client data). */
  bytesToBackend = 0;
  /** Some byte of this query's result has been written to the client: no retry from here on. */
  private sentToClient = false;
  /** The proxy's query timeout fired: the client got Exception 159; the rest of the result is drained. */
  private timedOut = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly conn: BackendConnection,
    private readonly client: RunSink,
    private readonly opts: QueryRunOptions,
    private readonly hooks: QueryRunHooks,
  ) {
    this.buffered = opts.resultBuffering === 'buffer' ? [] : null;
  }

  get finished(): boolean {
    return this.done;
  }

  /** Send the Query (and whatever the client sent after it) and start relaying. */
  start(compression: boolean, queryBytes: readonly Buffer[]): void {
    const conn = this.conn;
    conn.beginQuery(compression);
    conn.onPacket = (p) => this.onServerPacket(p);
    conn.onFailure = (err) => this.onBackendFailure(err);
    // While the client owes data (external tables, INSERT blocks) the server waits for it: pool.receive_timeout_ms
    // must not blame the server for the client's pace (BackendConnection.onSilence).
    conn.waitingForClient = () => this.hooks.clientDataOpen();
    if (conn.broken) {
      // It failed between the checkout and now, with nobody listening.
      this.onBackendFailure(conn.error ?? new BackendUnavailableError('Gatehouse: backend connection lost before the query was sent'));
      return;
    }
    for (const b of queryBytes) this.bytesToBackend += b.length;
    conn.write(queryBytes);
  }

  /** A client packet of this query (external tables, INSERT data, a Ping during INSERT). */
  forward(p: FramedPacket): void {
    if (this.done) return;
    for (const c of p.chunks) this.bytesToBackend += c.length;
    if (!this.conn.write(p.chunks)) this.client.pauseUntil((resume) => this.conn.whenWritable(resume));
  }

  /**
   * The proxy's own query timeout (a user's query_timeout_ms): Cancel goes to the backend, the
   * client gets Exception 159 at once, and what the server still sends is read and dropped until
   * EndOfStream, so the connection stays reusable.
   */
  setTimeout(ms: number, error: () => Buffer): void {
    if (ms <= 0) return;
    this.timer = setTimeout(() => {
      if (this.done || this.timedOut) return;
      this.timedOut = true;
      this.flushBuffered();
      this.buffered = null;
      this.client.write([error()]);
      this.sentToClient = true;
      if (!this.cancelled) {
        this.cancelled = true;
        this.conn.sendCancel();
      }
      // Whatever the client's socket still holds, the backend must be read to the end now.
      this.conn.resume();
    }, ms);
    this.timer.unref();
  }

  /** The client's Cancel: forwarded at once; the relay goes on until EndOfStream (native-protocol.md §9.3). */
  cancel(): void {
    if (this.done || this.cancelled) return;
    this.cancelled = true;
    this.conn.sendCancel();
  }

  /**
   * The client went away mid-query: cancel, then drain the backend to EndOfStream within the
   * drain timeout, or drop it (a cancelled query can still send megabytes, [captured] py_cancel).
   */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    const conn = this.conn;
    conn.onPacket = null;
    conn.onFailure = null;
    conn.waitingForClient = null;
    // No resume() here: packets held back by a pause must go to drain(), which resumes itself.
    if (!this.cancelled) conn.sendCancel();
    conn.drain(this.opts.drainTimeoutMs).then(
      // Drained to an Exception: the pool pings it before reuse, as after any query that failed (Pool.release).
      (inSync) => this.hooks.onDone({ reusable: inSync && !conn.broken && !this.hooks.clientDataOpen() }),
      () => this.hooks.onDone({ reusable: false }),
    );
  }

  private onServerPacket(p: FramedPacket): void {
    if (this.done) return;
    if (this.timedOut) {
      // The client already has its Exception: drain to the end of the query.
      if (p.code === ServerCode.EndOfStream || p.code === ServerCode.Exception) this.finish(p, false);
      return;
    }
    if (p.code === ServerCode.Data && this.opts.insertExpectsData && !this.headerSeen) {
      this.headerSeen = true;
      this.hooks.onClientDataPhase();
    }
    const last = p.code === ServerCode.EndOfStream || p.code === ServerCode.Exception;
    if (this.buffered) {
      const size = p.end - p.start;
      if (this.bufferedBytes + size <= this.opts.bufferMaxBytes && !(p.code === ServerCode.Data && this.opts.insertExpectsData)) {
        this.buffered.push(p);
        this.bufferedBytes += size;
        if (!last) return;
      } else {
        // Over the cap (or an INSERT that needs the header now): stream from here on.
        this.flushBuffered();
        this.buffered = null;
      }
    }
    if (last) {
      this.finish(p);
      return;
    }
    this.send(p);
  }

  private flushBuffered(): void {
    if (!this.buffered) return;
    for (const b of this.buffered) this.send(b);
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  private send(p: FramedPacket): void {
    this.sentToClient = true;
    if (!this.client.write(p.chunks, p) && !this.waitingForDrain) {
      // One wait per stall, however many packets are written before the drain.
      this.waitingForDrain = true;
      this.conn.pause();
      const limit = this.opts.maxPausedMs ?? 0;
      const stalled = limit > 0 && this.hooks.onClientStalled ? setTimeout(() => this.hooks.onClientStalled?.(), limit) : null;
      stalled?.unref();
      this.client.onDrain(() => {
        if (stalled) clearTimeout(stalled);
        this.waitingForDrain = false;
        if (!this.done) this.conn.resume();
      });
    }
  }

  private finish(last: FramedPacket, forward = true): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    const conn = this.conn;
    conn.onPacket = null;
    conn.onFailure = null;
    conn.waitingForClient = null;
    const reusable = !conn.broken && !this.hooks.clientDataOpen();
    const error =
      last.code === ServerCode.Exception
        ? { origin: 'backend' as const, code: (last.packet as { exceptions: { code: number }[] }).exceptions[0]?.code ?? 0 }
        : undefined;
    if (this.buffered) {
      // Free the backend first, then replay the buffered result to the client.
      const packets = [...this.buffered, last];
      this.buffered = null;
      this.hooks.onDone({ reusable, error });
      for (const p of packets) this.client.write(p.chunks, p);
      return;
    }
    if (forward) this.send(last);
    // After an Exception the pool pings the connection before lending it again (BackendConnection.endedInException).
    this.hooks.onDone({ reusable, error: this.timedOut ? { origin: 'proxy', code: 159 } : error });
  }

  private onBackendFailure(err: ProxyError): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.conn.onPacket = null;
    this.conn.onFailure = null;
    this.conn.waitingForClient = null;
    // A backend that went silent (pool.receive_timeout_ms) is not retried: the query may just be slow, and running it
    // elsewhere would double the client's wait. The client gets 209 as from ClickHouse's own client.
    const retriable = this.opts.retriable && !(err instanceof BackendTimeoutError);
    if (retriable && !this.sentToClient && !this.timedOut && this.hooks.onRetry) {
      // Nothing reached the client (a buffered result is dropped): run it again elsewhere.
      this.buffered = null;
      this.hooks.onRetry(err);
      return;
    }
    if (this.timedOut) {
      this.hooks.onDone({ reusable: false, error: { origin: 'proxy', code: 159 } });
      return;
    }
    this.flushBuffered();
    this.buffered = null;
    // Packets are forwarded whole, so the client's stream is at a packet boundary: an Exception fits.
    this.client.sendError(err);
    this.hooks.onDone({ reusable: false, error: { origin: 'proxy', code: err.chCode } });
  }
}
