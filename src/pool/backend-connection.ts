import * as net from 'node:net';
import {
  ADDENDUM_CODE,
  ClientCode,
  ConnectionState,
  DEFAULT_LIMITS,
  encodeClientPacket,
  Framer,
  hasAddendum,
  MIN_SUPPORTED_REVISION,
  PROXY_MAX_REVISION,
  ProtocolError,
  ServerCode,
  ServerCodeName,
  Writer,
  type FramedPacket,
  type ServerException,
  type ServerHello,
} from '../protocol';
import {
  backendLabel,
  GATEHOUSE_VERSION,
  type BackendConnectOptions,
  type BackendIdentity,
  type BackendTarget,
  type BackendTlsOptions,
  type ServerInfo,
} from './backend-types';
import { connectTls, tlsFailure } from './backend-tls';
import { BackendHandshakeError, BackendProtocolError, BackendTimeoutError, BackendUnavailableError, ProxyError } from './errors';

export { backendLabel, GATEHOUSE_VERSION };
export type { BackendConnectOptions, BackendIdentity, BackendTarget, BackendTlsOptions, ServerInfo };

type Mode = 'handshake' | 'ready' | 'ping' | 'drain' | 'closed';

interface PendingOp {
  kind: 'ping' | 'drain';
  timer: NodeJS.Timeout;
  settle(err: ProxyError | null): void;
}

/** TCP keep-alive probe delay on backend sockets. */
const KEEPALIVE_DELAY_MS = 30_000;

let nextId = 1;

/**
 * The client side of one native connection to a backend. It owns the socket and a server-direction
 * Framer; the current borrower receives every framed packet through `onPacket` and forwards its
 * `chunks` unchanged. The server speaks only when asked (native-protocol.md §2), so a packet that
 * arrives with nobody listening means the stream is out of sync: the connection is destroyed.
 */
export class BackendConnection {
  readonly id = nextId++;
  readonly state = new ConnectionState();
  readonly target: BackendTarget;
  readonly identity: BackendIdentity;
  readonly database: string;
  createdAt = Date.now();
  lastUsedAt = Date.now();

  /** Handlers of the current borrower; set on checkout, cleared on release. */
  onPacket: ((p: FramedPacket) => void) | null = null;
  onFailure: ((err: ProxyError) => void) | null = null;
  /**
   * Set by a borrower that relays a client's data (cleared by beginQuery): true while the server waits for that
   * client's blocks rather than owing an answer, so its silence is not the server's fault.
   */
  waitingForClient: (() => boolean) | null = null;

  private readonly socket: net.Socket;
  private readonly framer: Framer;
  private readonly label: string;
  private mode: Mode = 'handshake';
  private info: ServerInfo | null = null;
  private pending: PendingOp | null = null;
  private queryOpen = false;
  /** The last query's exchange ended with an Exception (its connection's state is then in doubt). */
  private lastEndedInException = false;
  private isPaused = false;
  /** Packets framed from a chunk but not yet delivered because pause() was called meanwhile. */
  private backlog: FramedPacket[] = [];
  private writableWaiters: (() => void)[] = [];
  private failure: ProxyError | null = null;
  private readonly closeListeners: ((err: ProxyError) => void)[] = [];
  private handshakeTimer: NodeJS.Timeout | null = null;
  private handshakeSettle: ((err: ProxyError | null) => void) | null = null;
  /** pool.receive_timeout_ms (0: none). */
  private readonly receiveTimeoutMs: number;
  /** The socket's timeout fired while the silence was the proxy's own (paused): resume() arms it again. */
  private silenceWhilePaused = false;

  /** Opens a connection and completes the handshake; rejects with a ProxyError (never leaves a socket behind). */
  static connect(opts: BackendConnectOptions): Promise<BackendConnection> {
    if (opts.revision < MIN_SUPPORTED_REVISION || opts.revision > PROXY_MAX_REVISION) {
      return Promise.reject(
        new RangeError(`revision ${opts.revision} outside ${MIN_SUPPORTED_REVISION}..${PROXY_MAX_REVISION}`),
      );
    }
    return new Promise((resolve, reject) => {
      const conn = new BackendConnection(opts, (err) => (err ? reject(err) : resolve(conn)));
    });
  }

  private constructor(opts: BackendConnectOptions, settle: (err: ProxyError | null) => void) {
    this.target = opts.target;
    this.identity = opts.identity;
    this.database = opts.database;
    this.label = backendLabel(opts.target, opts.identity);
    this.framer = new Framer('server', this.state, opts.limits ?? DEFAULT_LIMITS, { verifyChecksums: opts.verifyChecksums ?? true });
    // Before the server Hello, the framer gates the Hello's fields by the revision we announce.
    this.state.onClientHello(opts.revision);
    this.handshakeSettle = settle;
    this.handshakeTimer = setTimeout(() => {
      this.fail(
        new BackendUnavailableError(
          `Gatehouse: no connection to ${this.label}: connect and handshake took longer than ${opts.connectTimeoutMs} ms`,
        ),
      );
    }, opts.connectTimeoutMs);

    const secure = opts.tls ?? null;
    const socket = secure ? connectTls(opts.target, secure) : net.connect({ host: opts.target.host, port: opts.target.port });
    this.socket = socket;
    this.receiveTimeoutMs = opts.receiveTimeoutMs ?? 0;
    if (this.receiveTimeoutMs > 0) {
      // Node restarts a socket's timeout on every read and write (net.Socket#setTimeout), so watching a busy
      // connection costs one timer per connection, none per query or packet: 'timeout' means nothing moved for that long.
      socket.setTimeout(this.receiveTimeoutMs);
      socket.on('timeout', () => this.onSilence());
    }
    // Set between TCP connect and the end of the TLS handshake: an error then is the TLS handshake's.
    let tlsHandshaking = false;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    if (secure) {
      socket.on('connect', () => (tlsHandshaking = true));
      socket.on('secureConnect', () => {
        tlsHandshaking = false;
        socket.write(this.encodeHello(opts));
      });
    } else {
      socket.on('connect', () => socket.write(this.encodeHello(opts)));
    }
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.flushWritableWaiters());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const what = this.mode === 'handshake' ? 'no connection to' : 'lost connection to';
      const reason = tlsHandshaking ? `TLS handshake failed: ${tlsFailure(err)}` : (err.code ?? err.message);
      this.fail(new BackendUnavailableError(`Gatehouse: ${what} ${this.label}: ${reason}`, { cause: err }));
    });
    socket.on('close', () => {
      const what =
        this.mode !== 'handshake' ? 'closed by the server' : tlsHandshaking ? 'closed during the TLS handshake' : 'closed during the handshake';
      this.fail(new BackendUnavailableError(`Gatehouse: connection to ${this.label} ${what}`));
    });
  }

  /** The backend's Hello; available once connect() resolved. */
  get serverInfo(): ServerInfo {
    if (!this.info) throw new Error('serverInfo read before the handshake completed');
    return this.info;
  }

  /** Negotiated revision: min(announced, server's). */
  get revision(): number {
    return this.state.revision;
  }

  /** Closed, errored, or out of sync: never reuse. */
  get broken(): boolean {
    return this.mode === 'closed';
  }

  /** Between beginQuery() and the query's EndOfStream or Exception. */
  get inQuery(): boolean {
    return this.queryOpen;
  }

  /**
   * The last query ended with an Exception rather than EndOfStream, and no Pong has proved the connection in sync
   * since. After some Exceptions the server has not read all that was sent (18.16 fails a Query whose client info it
   * cannot parse half-way through the packet, then reads the rest, the client's empty Data block and a Cancel as new
   * packets; after a syntax error it reads the trailing empty Data block as a new packet): the pool pings such a
   * connection before lending it again (Pool.release).
   */
  get endedInException(): boolean {
    return this.lastEndedInException;
  }

  /** The socket is paused by pause(). */
  get paused(): boolean {
    return this.isPaused;
  }

  /** Why the connection closed (null while open). */
  get error(): ProxyError | null {
    return this.failure;
  }

  /** Called once when the connection closes for any reason. Used by the pool. */
  addCloseListener(fn: (err: ProxyError) => void): void {
    if (this.mode === 'closed') queueMicrotask(() => fn(this.closedError()));
    else this.closeListeners.push(fn);
  }

  /**
   * Raw bytes to the backend (already-encoded packets). Returns socket.write's result (false =
   * backpressure: wait for onDrain). On a broken connection the bytes are dropped and true is
   * returned, so nobody waits for a 'drain' that never comes; the failure is reported via onFailure.
   */
  write(data: Buffer | readonly Buffer[]): boolean {
    if (this.mode === 'closed') return true;
    // Writes made in one tick leave together: a Query and the empty Data block that follows
    // it are one segment, one wake-up of the server.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncorkSocket);
    }
    if (Buffer.isBuffer(data)) return this.socket.write(data);
    let ok = true;
    for (const b of data) ok = this.socket.write(b);
    return ok;
  }

  private corked = false;
  private readonly uncorkSocket = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  /**
   * Calls `fn` once the socket can take more bytes (after write() returned false), or soon if it
   * already can or the connection is closed (the failure itself goes to onFailure).
   */
  whenWritable(fn: () => void): void {
    if (this.mode === 'closed' || !this.socket.writableNeedDrain) queueMicrotask(fn);
    else this.writableWaiters.push(fn);
  }

  /**
   * Start of a query (or of any request the server answers: TablesStatusRequest): the Query's
   * compression flag decides how Data blocks are framed in both directions (native-protocol.md §11.2).
   */
  beginQuery(compression: boolean): void {
    this.state.compression = compression;
    this.queryOpen = true;
    this.lastEndedInException = false;
    this.waitingForClient = null;
  }

  /**
   * Stop reading the socket (backpressure towards the server). Packets already framed from the
   * current chunk are held back too, and delivered by resume().
   */
  pause(): void {
    if (this.isPaused || this.mode === 'closed') return;
    this.isPaused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    if (this.silenceWhilePaused) {
      // The server may have nothing more to send, so no read would restart the clock: restart it here.
      this.silenceWhilePaused = false;
      if (this.mode !== 'closed') this.socket.setTimeout(this.receiveTimeoutMs);
    }
    if (this.backlog.length > 0) {
      const held = this.backlog;
      this.backlog = [];
      this.deliver(held, 0);
    }
    // deliver() may have paused again (and kept the rest of the backlog).
    if (!this.isPaused && this.mode !== 'closed') this.socket.resume();
  }

  /** Writes a Cancel packet (one byte, native-protocol.md §9.3); the query still ends with EndOfStream. */
  sendCancel(): void {
    this.write(CANCEL_BYTES);
  }

  /**
   * Ping → Pong on an idle connection (Progress before the Pong is tolerated, as the reference client
   * does: native-protocol.md §9.4). Rejects on timeout (the connection is destroyed: a late Pong
   * would desync it) or close.
   */
  ping(timeoutMs: number): Promise<void> {
    if (this.mode === 'closed') return Promise.reject(this.closedError());
    if (this.mode !== 'ready' || this.queryOpen) {
      // A Ping during a SELECT makes the server close the connection (TCPHandler: unexpected packet).
      return Promise.reject(new BackendProtocolError(`Gatehouse: ping on a busy connection to ${this.label}`));
    }
    return new Promise((resolve, reject) => {
      this.startOp('ping', timeoutMs, (err) => (err ? reject(err) : resolve()));
      this.resume();
      this.socket.write(PING_BYTES);
    });
  }

  /**
   * After a Cancel: read and discard packets until EndOfStream or Exception. Resolves true when in
   * sync within timeoutMs; false otherwise (the connection is then destroyed).
   */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.mode === 'closed') return Promise.resolve(false);
    if (this.mode !== 'ready') return Promise.resolve(false);
    if (!this.queryOpen) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.startOp('drain', timeoutMs, (err) => resolve(err === null));
      this.resume();
    });
  }

  /** Close the socket. The borrower's onFailure is not called (the caller chose this). Idempotent. */
  destroy(reason = 'destroyed'): void {
    if (this.mode === 'closed') return;
    this.shutdown(new BackendUnavailableError(`Gatehouse: connection to ${this.label} ${reason}`), false);
  }

  /**
   * Close the socket and report `err` to the borrower's onFailure (e.g. when the pool closes).
   * During a ping or drain the error settles that promise instead. Idempotent.
   */
  fail(err: ProxyError): void {
    if (this.mode === 'closed') return;
    this.shutdown(err, this.mode === 'ready');
  }

  /**
   * Nothing was read or written for receiveTimeoutMs. Only a server that owes an answer is at fault: ClickHouse's
   * client gives up on a server after its receive_timeout (300 s) the same way, with 209. The connection is failed,
   * so the borrower reports it and the pool drops it (never lent again: a late answer would desync it).
   */
  private onSilence(): void {
    // Idle in the pool, or in the handshake, a ping or a drain (each has a timer of its own): nothing is owed.
    if (this.mode !== 'ready' || !this.queryOpen) return;
    if (this.isPaused) {
      // The proxy stopped reading (the client is slow): streaming.max_paused_ms bounds that, not this.
      this.silenceWhilePaused = true;
      return;
    }
    // The server waits for the client's data and bounds that itself (TCPHandler::readData, its receive_timeout);
    // unless the server does not even take the bytes already sent (a full send buffer): then it is stuck.
    if (this.waitingForClient?.() && !this.socket.writableNeedDrain) return;
    this.fail(new BackendTimeoutError(this.label, this.receiveTimeoutMs));
  }

  private closedError(): ProxyError {
    return this.failure ?? new BackendUnavailableError(`Gatehouse: connection to ${this.label} is closed`);
  }

  private startOp(kind: PendingOp['kind'], timeoutMs: number, settle: (err: ProxyError | null) => void): void {
    this.mode = kind;
    const op: PendingOp = {
      kind,
      settle,
      timer: setTimeout(() => {
        this.fail(new BackendUnavailableError(`Gatehouse: ${kind} of ${this.label} took longer than ${timeoutMs} ms`));
      }, timeoutMs),
    };
    this.pending = op;
  }

  private finishOp(err: ProxyError | null): void {
    const op = this.pending;
    if (!op) return;
    this.pending = null;
    clearTimeout(op.timer);
    if (this.mode !== 'closed') this.mode = 'ready';
    op.settle(err);
  }

  /**
   * The one teardown path: `cause` settles the handshake and any pending ping/drain, and goes to the
   * borrower's onFailure when `report`.
   */
  private shutdown(cause: ProxyError, report: boolean): void {
    this.mode = 'closed';
    this.failure = cause;
    this.queryOpen = false;
    this.backlog = [];
    this.socket.destroy();
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    const hs = this.handshakeSettle;
    this.handshakeSettle = null;
    if (hs) hs(cause);
    this.finishOp(cause);
    const onFailure = this.onFailure;
    if (report && onFailure) onFailure(cause);
    for (const fn of this.closeListeners.splice(0)) fn(cause);
    this.flushWritableWaiters();
  }

  private encodeHello(opts: BackendConnectOptions): Buffer {
    const w = new Writer(128);
    encodeClientPacket(
      w,
      {
        code: ClientCode.Hello,
        clientName: opts.clientName ?? 'Gatehouse',
        versionMajor: GATEHOUSE_VERSION.major,
        versionMinor: GATEHOUSE_VERSION.minor,
        revision: opts.revision,
        database: opts.database,
        user: opts.identity.user,
        password: opts.identity.password,
      },
      opts.revision,
    );
    return w.toBuffer();
  }

  private onData(chunk: Buffer): void {
    if (this.mode === 'closed') return;
    let packets: FramedPacket[];
    try {
      packets = this.framer.push(chunk);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.fail(
        new BackendProtocolError(`Gatehouse: bad bytes from ${this.label}: ${e.message}`, e.chCode, { cause: e }),
      );
      return;
    }
    this.deliver(packets, 0);
  }

  /** Dispatch packets in order; when a handler pauses, keep the rest for resume(). */
  private deliver(packets: FramedPacket[], from: number): void {
    for (let i = from; i < packets.length; i++) {
      if (this.isClosed()) return;
      if (this.isPaused && this.mode === 'ready') {
        this.backlog.push(...packets.slice(i));
        return;
      }
      this.dispatch(packets[i]);
    }
  }

  private isClosed(): boolean {
    return this.mode === 'closed';
  }

  private flushWritableWaiters(): void {
    if (this.writableWaiters.length === 0) return;
    for (const fn of this.writableWaiters.splice(0)) fn();
  }

  private dispatch(p: FramedPacket): void {
    switch (this.mode) {
      case 'handshake':
        return this.onHandshakePacket(p);
      case 'ping':
        if (p.code === ServerCode.Pong) {
          this.lastEndedInException = false;
          return this.finishOp(null);
        }
        if (p.code === ServerCode.Progress) return;
        return this.unexpected(p, 'while waiting for Pong');
      case 'drain':
        if (endsExchange(p.code)) {
          this.queryOpen = false;
          this.lastEndedInException = p.code === ServerCode.Exception;
          this.finishOp(null);
        }
        return;
      case 'ready': {
        const handler = this.onPacket;
        if (!handler) return this.unexpected(p, 'on an idle connection');
        if (endsExchange(p.code)) {
          this.queryOpen = false;
          this.lastEndedInException = p.code === ServerCode.Exception;
        }
        handler(p);
        return;
      }
      case 'closed':
        return;
    }
  }

  private onHandshakePacket(p: FramedPacket): void {
    if (p.code === ServerCode.Exception) {
      this.fail(new BackendHandshakeError(this.label, p.packet as ServerException));
      return;
    }
    if (p.code !== ServerCode.Hello) return this.unexpected(p, 'instead of Hello');
    const h = p.packet as ServerHello;
    this.info = {
      serverName: h.serverName,
      versionMajor: h.versionMajor,
      versionMinor: h.versionMinor,
      // Without the patch field, clients take the revision as the patch (Connection::receiveHello).
      versionPatch: h.versionPatch ?? h.revision,
      revision: h.revision,
      timezone: h.timezone ?? '',
      displayName: h.displayName ?? '',
    };
    if (hasAddendum(this.state.revision)) {
      // Sent right after reading the server Hello; no packet code (native-protocol.md §4.3).
      const w = new Writer(16);
      encodeClientPacket(w, { code: ADDENDUM_CODE, quotaKey: '' }, this.state.revision);
      this.socket.write(w.toBuffer());
    }
    // We wrote the addendum ourselves; no client-direction framer waits for it on this leg.
    this.state.addendumPending = false;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.mode = 'ready';
    this.createdAt = this.lastUsedAt = Date.now();
    const settle = this.handshakeSettle;
    this.handshakeSettle = null;
    settle?.(null);
  }

  private unexpected(p: FramedPacket, when: string): void {
    const name = ServerCodeName[p.code] ?? String(p.code);
    this.fail(new BackendProtocolError(`Gatehouse: unexpected ${name} packet from ${this.label} ${when}`));
  }
}

/**
 * The server's last packet of an exchange: a query ends with EndOfStream or Exception (§9), a
 * TablesStatusRequest with its response.
 */
function endsExchange(code: number): boolean {
  return code === ServerCode.EndOfStream || code === ServerCode.Exception || code === ServerCode.TablesStatusResponse;
}

/** Client packet codes as bytes (VarUInt < 128 is one byte; src/Core/Protocol.h). */
const CANCEL_BYTES = Buffer.of(ClientCode.Cancel);
const PING_BYTES = Buffer.of(ClientCode.Ping);
