import type { Socket } from 'node:net';
import {
  ClientCode,
  ClientHello,
  ConnectionState,
  FramedPacket,
  Framer,
  MIN_SUPPORTED_REVISION,
  ProtocolError,
  ServerCode,
  Writer,
  encodeServerPacket,
} from '../protocol';
import type { SessionDeps } from './session-types';
import { SessionCache } from './session-cache';
import { ClientSink } from './client-sink';
import { ProxyErrorCode, replyError } from './error-reply';
import { InternalQueries } from './internal-queries';
import { ClientWatchdog, DEFAULT_CLIENT_RECEIVE_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from './client-timeouts';
import { ClientHandshake, type HandshakeHost } from './client-handshake';
import { SessionContext } from './session-context';
import { SessionStatements, type StatementsHost } from './session-statements';
import { PinnedSession, type PinnedHost } from './pinned-session';
import { QueryPlacement, type PlacementHost } from './query-placement';

export { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './client-handshake';

/**
 * One client connection. The proxy answers the Hello itself, authenticates, keeps the session
 * state (database, SET settings, a pinned connection when state cannot be replayed) and runs
 * each query on a backend connection lent for that query only (architecture.md "Sessions on
 * pooled connections"). Client packets are handled strictly in order through one inbox.
 *
 * This class reads the socket, orders and dispatches the client's packets and ends the session; its parts do the
 * rest: client-handshake.ts (Hello and login), session-context.ts (what the parts share: identity, database, SET
 * settings, pools), query-placement.ts (a Query to its end), pinned-session.ts (the pinned connection),
 * session-statements.ts (USE, SET, TablesStatus and other replies the proxy makes itself) and session-cache.ts.
 */
export class ClientSession implements HandshakeHost, StatementsHost, PinnedHost, PlacementHost {
  private readonly state = new ConnectionState();
  private readonly framer: Framer;
  private readonly sink: ClientSink;
  private inbox: FramedPacket[] = [];
  private inboxBytes = 0;
  private pumping = false;
  private inboxPaused = false;
  private closed = false;

  private readonly ctx: SessionContext;
  private readonly handshake: ClientHandshake;
  private readonly statements: SessionStatements;
  private readonly pinned: PinnedSession;
  private readonly placement: QueryPlacement;
  /** The result cache's side of this session (inactive while the cache is off). */
  private readonly cache: SessionCache;
  /** After the login: connections.idle_timeout_ms and connections.receive_timeout_ms (client-timeouts.ts). */
  private watchdog: ClientWatchdog | null = null;

  constructor(
    readonly socket: Socket,
    private readonly deps: SessionDeps,
  ) {
    this.framer = new Framer('client', this.state, deps.config.limits, { verifyChecksums: deps.config.verifyChecksums });
    this.sink = new ClientSink(socket);
    const internal = new InternalQueries();
    this.ctx = new SessionContext(deps);
    this.cache = new SessionCache(
      {
        sink: this.sink,
        events: deps.events,
        isClosed: () => this.closed,
        place: (at) => this.placement.runAttempt(at),
        ended: (at, route, outcome) => this.placement.queryEnded(at, route, outcome),
        info: (at) => this.ctx.qi(at.q, at.cls),
        refreshAttempt: (at) => ({ ...at, admitted: null, tried: new Set(), retriesLeft: deps.config.routing.retries, flight: undefined }),
      },
      () => this.deps.cache,
    );
    this.statements = new SessionStatements(this, deps, this.ctx, this.sink, internal);
    this.pinned = new PinnedSession(this, deps, this.sink);
    this.placement = new QueryPlacement(this, deps, this.ctx, this.sink, this.cache, this.pinned, this.statements);
    socket.setNoDelay(true);
    this.handshake = new ClientHandshake(this, deps, this.ctx, this.sink, internal);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  /** No query of this client is in flight (between queries, or before its Hello): safe to close for a shutdown. */
  get idle(): boolean {
    return !this.placement.run && !this.placement.attempt && !this.cache.busy && this.inbox.length === 0 && !this.pumping;
  }

  /** The session has ended (close() ran). */
  get isClosed(): boolean {
    return this.closed;
  }

  private onData(chunk: Buffer): void {
    this.watchdog?.read(Date.now());
    let packets: FramedPacket[];
    try {
      packets = this.framer.push(chunk);
    } catch (e) {
      // A malformed client packet closes this client only (issue 3, architecture.md "Errors").
      this.deps.log('info', 'closing client after a protocol error', { error: (e as Error).message });
      this.sink.fail(e instanceof ProtocolError ? e : replyError(ProxyErrorCode.UNEXPECTED_PACKET_FROM_CLIENT, String(e)));
      this.close(true);
      return;
    }
    for (const p of packets) {
      this.inbox.push(p);
      this.inboxBytes += p.end - p.start;
    }
    if (this.inboxBytes > this.deps.config.maxPendingClientBytes && !this.inboxPaused) {
      this.inboxPaused = true;
      this.socket.pause();
    }
    void this.pump();
  }

  /** Handles the inbox's packets in order, one at a time; the parts call it again when a query ends. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.inbox.length > 0 && !this.closed) {
        const p = this.inbox.shift()!;
        this.inboxBytes -= p.end - p.start;
        const pending = this.handle(p);
        if (pending) await pending;
        if (this.inboxPaused && this.inboxBytes <= this.deps.config.maxPendingClientBytes / 2) {
          this.inboxPaused = false;
          this.socket.resume();
        }
      }
    } catch (e) {
      this.deps.log('warn', 'session failed', { error: (e as Error).message });
      this.sink.fail(e);
      this.close(true);
    } finally {
      this.pumping = false;
      this.watchdog?.active(Date.now());
    }
  }

  /** Returns a promise only when the packet needs asynchronous work before the next one. */
  private handle(p: FramedPacket): Promise<void> | void {
    if (!this.ctx.hello) {
      if (p.code !== ClientCode.Hello) return this.protocolViolation('expected Hello');
      return this.handshake.onHello(p.packet as ClientHello);
    }
    const placement = this.placement;
    switch (p.code) {
      case -1: // handshake addendum (quota key): nothing to act on
        return;
      case ClientCode.Ping:
        if (placement.run) {
          // Valid only during INSERT data transfer; never forward a Ping into a running SELECT (§13.10).
          if (placement.clientDataOpen && placement.run) placement.run.forward(p);
          return;
        }
        this.writePacket({ code: ServerCode.Pong });
        return;
      case ClientCode.Query:
        if (placement.run || this.cache.busy) return this.protocolViolation('Query while a query is running');
        return placement.startQuery(p);
      case ClientCode.Data:
      case ClientCode.Scalar:
        return this.onClientData(p);
      case ClientCode.Cancel:
        placement.run?.cancel();
        this.cache.cancel();
        return;
      case ClientCode.TablesStatusRequest:
        return this.statements.tablesStatus(p);
      case ClientCode.KeepAlive:
        return;
      default:
        return this.protocolViolation(`unexpected packet ${p.code}`);
    }
  }

  private protocolViolation(what: string): void {
    this.sink.fail(replyError(ProxyErrorCode.UNEXPECTED_PACKET_FROM_CLIENT, `unexpected packet from client: ${what}`));
    this.close(true);
  }

  /** Writes a packet the proxy makes itself (Pong, EndOfStream), at the session's revision. */
  writePacket(packet: Parameters<typeof encodeServerPacket>[1]): void {
    const w = new Writer(64);
    encodeServerPacket(w, packet, this.ctx.revision || MIN_SUPPORTED_REVISION);
    this.sink.write([w.toBuffer()], packet);
  }

  /** The handshake sent the server Hello (client-handshake.ts): the client's next packets can be framed. */
  loggedIn(revision: number): void {
    this.state.onServerHello(revision);
    this.watchClient();
    // The framer waits for the server Hello before it frames the client's next packets.
    this.onData(Buffer.alloc(0));
  }

  /** From the login on: a client idle too long is closed, one that stops half-way through a packet gets 209. */
  private watchClient(): void {
    this.watchdog = new ClientWatchdog(
      {
        busy: () => !this.idle,
        partialPacket: () => !this.framer.idle,
        readingPaused: () => this.socket.isPaused(),
        onIdle: (ms) => {
          // ClickHouse closes an idle connection without a word (TCPHandler::runImpl); so does the proxy.
          this.deps.log('info', 'closing an idle client', { remote: this.socket.remoteAddress ?? '', idle_ms: ms });
          this.sink.end();
          this.close(true);
        },
        onPartialPacket: (ms) => {
          this.deps.log('info', 'closing a client that stopped in the middle of a packet', { remote: this.socket.remoteAddress ?? '', ms });
          this.sink.fail(
            replyError(ProxyErrorCode.SOCKET_TIMEOUT, `Gatehouse: the client sent part of a packet, then nothing for ${ms} ms (connections.receive_timeout_ms)`),
          );
          this.close(true);
        },
      },
      () => ({
        idleTimeoutMs: this.deps.config.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        receiveTimeoutMs: this.deps.config.clientReceiveTimeoutMs ?? DEFAULT_CLIENT_RECEIVE_TIMEOUT_MS,
      }),
    );
    this.watchdog.start();
  }

  private onClientData(p: FramedPacket): Promise<void> | void {
    const placement = this.placement;
    // A Data packet outside any query is a protocol error; inside one, the server decides.
    if (!placement.clientDataOpen && !placement.run && !placement.attempt) return this.protocolViolation('Data outside a query');
    const block = p.block!;
    const tableName = (p.packet as { tableName: string }).tableName;
    const endOfData = tableName === '' && block.rows === 0 && block.columns.length === 0;
    if (endOfData) placement.clientDataOpen = false;
    const at = placement.attempt;
    if (at && this.cache.holding) {
      // A held cacheable read has no run yet: keep the packet for whichever run answers it.
      at.replayBytes += p.end - p.start;
      at.replay.push(p.chunks);
      return this.cache.onClientData(endOfData);
    }
    if (at && at.retriable) {
      // Kept so that a read can be sent again to another reader (bounded).
      at.replayBytes += p.end - p.start;
      if (at.replayBytes > this.deps.config.maxPendingClientBytes) at.retriable = false;
      else at.replay.push(p.chunks);
    }
    // Forwarded to the running query; swallowed when the query was answered locally or failed.
    if (placement.run && !placement.run.finished) placement.run.forward(p);
  }

  // ---- end -------------------------------------------------------------------------------

  /**
   * Ends the session. `graceful`: an Exception was just written and the socket ended; let it
   * flush (destroy only if the client does not close within a few seconds).
   */
  close(graceful = false): void {
    if (this.closed) return;
    this.closed = true;
    this.handshake.stop();
    this.watchdog?.stop();
    const run = this.placement.run;
    this.placement.run = null;
    // abandon() hands the connection back through onDone, which drops a pinned connection.
    if (run && !run.finished) run.abandon();
    else this.pinned.release();
    this.cache.close();
    this.inbox = [];
    this.ctx.releaseConnection?.();
    this.ctx.releaseConnection = null;
    if (this.placement.attempt && !run) this.placement.attempt.admitted?.();
    if (graceful) setTimeout(() => this.socket.destroy(), 5_000).unref();
    else if (!this.socket.destroyed) this.socket.destroy();
    this.deps.events.clientClosed();
  }
}
