import type { Socket } from 'node:net';
import type { BackendConnection, BackendIdentity, BackendTarget, Pool, ServerInfo } from '../pool';
import {
  ClientCode,
  ClientHello,
  ClientQuery,
  ConnectionState,
  FramedPacket,
  Framer,
  MIN_SUPPORTED_REVISION,
  negotiate,
  PROXY_MAX_REVISION,
  ProtocolError,
  ServerCode,
  Writer,
  type ClientCompression,
  type Setting,
  clientCompression,
  encodeServerPacket,
} from '../protocol';
import { classify, type Classification } from '../router';
import { planQuery } from './query-plan';
import { isBackendFault, once, seconds, type Attempt, type Lease, type QueryInfo, type SessionDeps } from './session-types';
import { SessionCache } from './session-cache';
import { writtenTables } from './cache-policy';
import { InvalidatingSink } from './invalidating-sink';
import type { QueryOutcome } from './cache-flight';
import type { RunSink } from './query-run';
import type { ProxyUser } from './auth';
import { checkLogin, findServerInfo } from './login';
import { ClientSink } from './client-sink';
import { exceptionPacket, ProxyErrorCode, replyError, toReplyError } from './error-reply';
import { isLimitRefusal, type UserLimiter } from './user-limits';
import { Failure, InternalQueries } from './internal-queries';
import { QueryRun } from './query-run';
import { mergeSettings, rewriteQuery } from './query-rewrite';
import { DEFAULT_GROUP, type Route } from './targets';
import { ClientWatchdog, DEFAULT_CLIENT_RECEIVE_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from './client-timeouts';

/** Error codes that mean a failed login, counted by the login guard. */
const AUTH_FAILURES: ReadonlySet<number> = new Set([ProxyErrorCode.AUTHENTICATION_FAILED, 192, 193]);

/**
 * One client connection. The proxy answers the Hello itself, authenticates, keeps the session
 * state (database, SET settings, a pinned connection when state cannot be replayed) and runs
 * each query on a backend connection lent for that query only (architecture.md "Sessions on
 * pooled connections"). Client packets are handled strictly in order through one inbox.
 */
/** Default of connections.handshake_timeout_ms: time from connect to a complete Hello. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export class ClientSession {
  private readonly state = new ConnectionState();
  private readonly framer: Framer;
  private readonly sink: ClientSink;
  private inbox: FramedPacket[] = [];
  private inboxBytes = 0;
  private pumping = false;
  private inboxPaused = false;
  private closed = false;

  private hello: ClientHello | null = null;
  private user: ProxyUser | null = null;
  private clientIdentity: BackendIdentity = { user: 'default', password: '' };
  private database = '';
  private revision = 0;
  private serverInfo: ServerInfo | null = null;
  /** Settings recorded from SET statements, in order; merged into every forwarded Query. */
  private settings = new Map<string, string>();
  private pinned: Lease | null = null;
  private run: QueryRun | null = null;
  /** After a Query the client sends Data packets until an empty block; an INSERT opens a second phase. */
  private clientDataOpen = false;
  private readonly internal: InternalQueries;
  private readonly pools = new Map<string, Pool>();
  /** The query being placed (between its Query packet and its run's end). */
  private attempt: Attempt | null = null;
  /** When this client last wrote (read-your-writes). */
  private lastWriteAt = 0;
  /** Part of sink.bytesOut already reported to the metrics. */
  private bytesReported = 0;
  /** The proxy user's limiter, and the release of this connection's slot. */
  private limiter: UserLimiter | null = null;
  private releaseConnection: (() => void) | null = null;
  /** The result cache's side of this session (inactive while the cache is off). */
  private readonly cache: SessionCache;
  /** Armed until the client's Hello is complete: a client that trickles or withholds it is closed. */
  private helloTimer: NodeJS.Timeout | null = null;
  /** After the login: connections.idle_timeout_ms and connections.receive_timeout_ms (client-timeouts.ts). */
  private watchdog: ClientWatchdog | null = null;

  constructor(
    readonly socket: Socket,
    private readonly deps: SessionDeps,
  ) {
    this.framer = new Framer('client', this.state, deps.config.limits, { verifyChecksums: deps.config.verifyChecksums });
    this.sink = new ClientSink(socket);
    this.internal = new InternalQueries();
    this.cache = new SessionCache(
          {
            sink: this.sink,
            events: deps.events,
            isClosed: () => this.closed,
            place: (at) => this.runAttempt(at),
            ended: (at, route, outcome) => this.queryEnded(at, route, outcome),
            info: (at) => this.qi(at.q, at.cls),
            refreshAttempt: (at) => ({ ...at, admitted: null, tried: new Set(), retriesLeft: deps.config.routing.retries, flight: undefined }),
          },
          () => this.deps.cache,
        );
    socket.setNoDelay(true);
    // connections.handshake_timeout_ms; SessionConfig does not carry it yet, hence the optional read.
    const helloMs = deps.config.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.helloTimer = setTimeout(() => this.helloTimedOut(helloMs), helloMs);
    this.helloTimer.unref();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  /** No query of this client is in flight (between queries, or before its Hello): safe to close for a shutdown. */
  get idle(): boolean {
    return !this.run && !this.attempt && !this.cache.busy && this.inbox.length === 0 && !this.pumping;
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

  private async pump(): Promise<void> {
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
    if (!this.hello) {
      if (p.code !== ClientCode.Hello) return this.protocolViolation('expected Hello');
      return this.handshake(p.packet as ClientHello);
    }
    switch (p.code) {
      case -1: // handshake addendum (quota key): nothing to act on
        return;
      case ClientCode.Ping:
        if (this.run) {
          // Valid only during INSERT data transfer; never forward a Ping into a running SELECT (§13.10).
          if (this.clientDataOpen && this.run) this.run.forward(p);
          return;
        }
        this.writePacket({ code: ServerCode.Pong });
        return;
      case ClientCode.Query:
        if (this.run || this.cache.busy) return this.protocolViolation('Query while a query is running');
        return this.startQuery(p);
      case ClientCode.Data:
      case ClientCode.Scalar:
        return this.onClientData(p);
      case ClientCode.Cancel:
        this.run?.cancel();
        this.cache.cancel();
        return;
      case ClientCode.TablesStatusRequest:
        return this.tablesStatus(p);
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

  private writePacket(packet: Parameters<typeof encodeServerPacket>[1]): void {
    const w = new Writer(64);
    encodeServerPacket(w, packet, this.revision || MIN_SUPPORTED_REVISION);
    this.sink.write([w.toBuffer()]);
  }

  // ---- handshake -------------------------------------------------------------------------

  /** No complete Hello in time (slowloris, or a client that never speaks): 159, then closed. */
  private helloTimedOut(ms: number): void {
    this.helloTimer = null;
    if (this.closed) return;
    this.deps.log('info', 'closing client: no Hello in time', { remote: this.socket.remoteAddress ?? '', ms });
    this.sink.fail(replyError(ProxyErrorCode.TIMEOUT_EXCEEDED, `Gatehouse: no complete Hello within ${ms} ms (connections.handshake_timeout_ms)`));
    this.close(true);
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
          if (!this.socket.destroyed) this.socket.end();
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

  private async handshake(hello: ClientHello): Promise<void> {
    // The Hello is complete: what follows (login, backend checks) has its own timeouts.
    this.clearHelloTimer();
    const { config } = this.deps;
    const address = this.socket.remoteAddress ?? '';
    const guard = this.deps.loginGuard;
    const waitMs = guard?.blockedFor(address) ?? 0;
    if (waitMs > 0) {
      // Refused before any password is looked at: guessing costs a wait whatever the guess.
      return this.failHandshake(
        replyError(ProxyErrorCode.AUTHENTICATION_FAILED, `Gatehouse: too many failed logins from this address; try again in ${Math.ceil(waitMs / 1000)} s`),
      );
    }
    const login = checkLogin(hello, config, this.deps.limiters, address);
    if ('chCode' in login) return this.failHandshake(login);
    ({ user: this.user, limiter: this.limiter, releaseConnection: this.releaseConnection } = login);
    const identitiesSet = this.user !== null;
    this.clientIdentity = { user: hello.user || 'default', password: hello.password };
    this.database = hello.database || this.user?.database || '';
    const found = await findServerInfo(this.deps.router, this.deps.pools, (route) => this.identityFor(route));
    if ('error' in found) return this.failHandshake(found.error);
    this.serverInfo = found;
    const advertised = Math.min(PROXY_MAX_REVISION, this.serverInfo.revision);
    this.revision = negotiate(hello.revision, advertised);
    if (this.database || !identitiesSet) {
      // A backend connection opened in the Hello's database proves that it exists (the server
      // refuses the handshake otherwise, code 81) and, in pass-through mode, the client's
      // password (pools are keyed by user and a hash of the password). An idle pooled one
      // proved it when it was opened.
      const failure = await this.internal.touch(this.lease(identitiesSet ? 'reader' : 'writer', this.database));
      if (failure) return this.failHandshake(failure);
    }
    this.hello = hello;
    guard?.succeeded(address);
    const info = this.serverInfo;
    const w = new Writer(128);
    encodeServerPacket(
      w,
      {
        code: ServerCode.Hello,
        serverName: info.serverName,
        versionMajor: info.versionMajor,
        versionMinor: info.versionMinor,
        revision: advertised,
        timezone: info.timezone,
        displayName: info.displayName,
        versionPatch: info.versionPatch,
      },
      this.revision,
    );
    this.sink.write([w.toBuffer()]);
    this.state.onServerHello(advertised);
    this.watchClient();
    // The framer waits for the server Hello before it frames the client's next packets.
    this.onData(Buffer.alloc(0));
  }

  private failHandshake(err: unknown): void {
    const code = err instanceof Failure ? err.chCode : toReplyError(err).chCode;
    // 516 from the proxy's own check; 192/193 (UNKNOWN_USER, WRONG_PASSWORD) from a backend in pass-through mode.
    if (AUTH_FAILURES.has(code) && this.deps.loginGuard?.failed(this.socket.remoteAddress ?? '')) {
      this.deps.log('warn', 'failed logins: address blocked', { address: this.socket.remoteAddress ?? '' });
    }
    if (err instanceof Failure) {
      this.sink.write(err.packet);
      this.socket.end();
    } else this.sink.fail(err);
    this.close(true);
  }

  private identityFor(route: Route): BackendIdentity {
    return this.deps.router.identity(route, this.clientIdentity, this.user ?? undefined);
  }

  /** A connection for the proxy's own requests (USE checks, SET checks, TablesStatus). */
  private lease(route: Route, database = this.database): () => Promise<Lease> {
    return async () => {
      const pick = this.deps.router.pick(route, DEFAULT_GROUP);
      if ('chCode' in pick) throw pick;
      const pool = this.poolFor(pick.target, pick.route, database);
      return { conn: await pool.checkout(), pool, pinned: false, target: pick.target, group: DEFAULT_GROUP };
    };
  }

  /** The pool for a backend, remembered per session (the key is hashed once, not per query). */
  private poolFor(target: BackendTarget, route: Route, database: string): Pool {
    const k = `${route}\u0000${target.name}\u0000${target.host}:${target.port}\u0000${database}`;
    let pool = this.pools.get(k);
    if (!pool || pool.isClosed) {
      pool = this.deps.pools.pool({ target, identity: this.identityFor(route), database, revision: this.revision || this.serverInfo!.revision });
      this.pools.set(k, pool);
    }
    return pool;
  }

  private queryContext() {
    const h = this.hello;
    return {
      revision: this.revision || Math.min(PROXY_MAX_REVISION, this.serverInfo?.revision ?? MIN_SUPPORTED_REVISION),
      clientName: h?.clientName ?? 'Gatehouse',
      settings: [...this.settings].map(([name, value]) => ({ name, value, flags: 0 })),
    };
  }

  // ---- queries ---------------------------------------------------------------------------

  private onClientData(p: FramedPacket): Promise<void> | void {
    // A Data packet outside any query is a protocol error; inside one, the server decides.
    if (!this.clientDataOpen && !this.run && !this.attempt) return this.protocolViolation('Data outside a query');
    const block = p.block!;
    const tableName = (p.packet as { tableName: string }).tableName;
    const endOfData = tableName === '' && block.rows === 0 && block.columns.length === 0;
    if (endOfData) this.clientDataOpen = false;
    const at = this.attempt;
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
    if (this.run && !this.run.finished) this.run.forward(p);
  }

  private async startQuery(p: FramedPacket): Promise<void> {
    const q = p.packet as ClientQuery;
    this.clientDataOpen = true;
    const cls = classify(q.query);
    const { config } = this.deps;

    const plan = planQuery({
      q,
      cls,
      user: this.user,
      userName: this.user?.name ?? this.clientIdentity.user,
      database: this.database,
      rules: config.routing.rules,
    });
    if ('refuse' in plan) {
      this.localReply('local', cls, plan.refuse, q);
      return;
    }
    const { group, forced, injected } = plan;
    if (this.pinned || config.poolMode === 'session' || cls.pins) {
      if (cls.session?.type === 'set') this.recordSettings(cls);
      return this.runOnPinned(p, q, cls, injected);
    }
    if (cls.session?.type === 'use') return this.useDatabase(cls.session.database);
    if (cls.session?.type === 'set') return this.setSettings(cls);
    let route: Route = forced ?? (cls.kind === 'read' ? 'reader' : 'writer');
    // Read-your-writes: after this client wrote, its reads go to the writer for a while.
    if (route === 'reader' && !forced && config.routing.readAfterWriteMs > 0 && Date.now() - this.lastWriteAt < config.routing.readAfterWriteMs) {
      route = 'writer';
    }
    const started = process.hrtime.bigint();
    const cachePlan = this.cachePlan(q, cls, route, forced != null, group, injected);
    // A cached read is counted where it ends up (local for hits and followers).
    if (!cachePlan) this.deps.events.query(route, cls.kind, this.qi(q, cls));
    let admitted: (() => void) | null = null;
    if (this.limiter) {
      const a = await this.limiter.admit();
      if (isLimitRefusal(a)) {
        if (cachePlan) this.deps.events.query(route, cls.kind, this.qi(q, cls));
        this.sink.sendError(replyError(a.chCode, a.message));
        this.deps.events.queryDone(route, seconds(started), { origin: 'proxy', code: a.chCode }, this.qi(q, cls));
        return;
      }
      admitted = once(a);
    }
    let queryBytes: readonly Buffer[];
    try {
      queryBytes = this.queryBytes(p, q, injected);
    } catch (e) {
      admitted?.();
      if (cachePlan) this.deps.events.query(route, cls.kind, this.qi(q, cls));
      this.sink.sendError(e);
      this.deps.events.queryDone(route, seconds(started), { origin: 'proxy', code: toReplyError(e).chCode }, this.qi(q, cls));
      return;
    }
    this.attempt = {
      q, cls, route, group, started, queryBytes, admitted,
      tried: new Set(),
      retriesLeft: route === 'reader' ? config.routing.retries : 0,
      retriable: route === 'reader',
      replay: [],
      replayBytes: 0,
    };
    if (cachePlan) {
      // Answered once the client's data has ended (session-cache.ts).
      this.cache.hold(cachePlan.cfg, this.attempt, cachePlan.plan, this.revision, cachePlan.compression);
      return;
    }
    return this.runAttempt(this.attempt);
  }

  /** The cache plan of a read that may use the cache, or null (cache off, not cacheable: the bypass is counted). */
  private cachePlan(q: ClientQuery, cls: Classification, route: Route, forced: boolean, group: string, injected: Setting[]) {
    const cfg = this.cache.config;
    if (!cfg || cls.kind !== 'read' || cls.session !== undefined) return null;
    // A read sent to the writer by read-your-writes or a rule wants the writer's current data, not a cached copy.
    if (route !== 'reader' || forced) {
      cfg.cache.events.bypass(forced ? 'rule' : 'read_after_write');
      return null;
    }
    const settings = mergeSettings(this.settings, q.settings, injected);
    let compression: ClientCompression | null;
    try {
      // The session's SETs count: the backend would compress with what they set.
      compression = clientCompression({ ...q, settings });
    } catch {
      cfg.cache.events.bypass('compression');
      return null; // a method the proxy cannot write: the backend answers it
    }
    const d = this.cache.decide(cfg, {
      q,
      cls,
      userName: this.user?.name ?? this.clientIdentity.user,
      database: this.database,
      group,
      backendUser: this.identityFor('reader').user,
      revision: this.revision,
      settings,
    });
    return d.cache ? { cfg, plan: d.plan, compression } : null;
  }

  /** Who ran which query, for events. */
  private qi(q: ClientQuery | null, cls: Classification): QueryInfo {
    return { user: this.user?.name ?? this.clientIdentity.user, kind: cls.kind, queryId: q?.queryId ?? '' };
  }

  /** The query ended for this client (a cached or shared read): free its slot, count it, read the next packet. */
  private queryEnded(at: Attempt, route: Route | 'local', outcome: QueryOutcome): void {
    if (this.attempt === at) this.attempt = null;
    at.admitted?.();
    this.deps.events.bytes(this.sink.bytesOut - this.bytesReported, 0);
    this.bytesReported = this.sink.bytesOut;
    this.deps.events.queryDone(route, seconds(at.started), outcome.error, this.qi(at.q, at.cls));
    if (!this.closed) void this.pump();
  }

  /**
   * The Query as it goes to the backend: the client's own bytes, or re-encoded when session SETs
   * or enforced settings must be merged in (throws if the settings cannot be encoded).
   */
  private queryBytes(p: FramedPacket, q: ClientQuery, injected: Setting[]): readonly Buffer[] {
    if (this.settings.size === 0 && injected.length === 0) return p.chunks;
    return [rewriteQuery(q, mergeSettings(this.settings, q.settings, injected), this.revision)];
  }

  /** One try of a query on one backend; reads that fail before any byte reached the client try another reader. */
  private async runAttempt(at: Attempt): Promise<void> {
    const { router, health } = this.deps;
    for (;;) {
      const pick = router.pick(at.route, at.group, at.tried);
      if ('chCode' in pick) return this.endAttempt(at, pick);
      const target = pick.target;
      const pool = this.poolFor(target, pick.route, this.database);
      let conn: BackendConnection;
      try {
        conn = await pool.checkout();
      } catch (e) {
        if (isBackendFault(e)) health?.reportFailure(target, (e as Error).message);
        at.tried.add(target.name);
        if (at.retriable && isBackendFault(e)) {
          // Every reader tried: one more pick decides between the writer fallback and 279,
          // without spending a retry.
          const readersLeft = router.readers(at.group).some((r) => !at.tried.has(r.name));
          if (!readersLeft && !at.fallbackTried) {
            at.fallbackTried = true;
            continue;
          }
          if (at.retriesLeft > 0) {
            at.retriesLeft--;
            continue;
          }
        }
        return this.endAttempt(at, e);
      }
      if (this.closed && !(at.flight && (at.flight.subscribers > 0 || at.flight.background))) {
        pool.release(conn, true);
        at.admitted?.();
        at.flight?.sendError(new Error('client gone'));
        return;
      }
      const lease: Lease = { conn, pool, pinned: false, target, group: at.group };
      router.acquire(at.group, target);
      at.tried.add(target.name);
      this.execute(at, lease, pick.route);
      return;
    }
  }

  private endAttempt(at: Attempt, err: unknown): void {
    if (at.flight) {
      // Every client of the flight gets the error; each ends through its own subscription.
      at.flight.sendError(err);
      return;
    }
    if (this.attempt === at) this.attempt = null;
    at.admitted?.();
    this.sink.sendError(err);
    this.deps.events.queryDone(at.route, seconds(at.started), { origin: 'proxy', code: toReplyError(err).chCode }, this.qi(at.q, at.cls));
  }

  private execute(at: Attempt, lease: Lease, route: Route): void {
    const { config, router, health } = this.deps;
    const { q, cls } = at;
    const flight = at.flight;
    let sink: RunSink = flight ?? this.sink;
    const cache = this.deps.cache?.cache;
    // Writes, and what the router could not classify (it may write); never SET/USE.
    if (cache && (cls.kind === 'write' || cls.kind === 'unknown')) {
      const tables = writtenTables(q.query, this.database);
      sink = new InvalidatingSink(sink, () => cache.invalidate(tables));
    }
    const run = new QueryRun(
      lease.conn,
      sink,
      {
        // Any INSERT but INSERT … SELECT: 18.16 asks for data blocks even when the text carries
        // inline values (clickhouse-client --multiquery sends the rest of the script after VALUES),
        // so the server's header block, not the text, opens the client's data phase.
        insertExpectsData: cls.statement === 'INSERT' && !cls.insert?.select,
        resultBuffering: lease.pinned || flight ? 'stream' : config.resultBuffering,
        bufferMaxBytes: config.bufferMaxBytes,
        drainTimeoutMs: config.drainTimeoutMs,
        maxPausedMs: config.maxPausedMs,
        retriable: !lease.pinned && at.retriable && at.retriesLeft > 0,
      },
      {
        onClientDataPhase: () => {
          this.clientDataOpen = true;
        },
        onClientStalled: () => {
          // A client that stops reading must not hold a backend connection: close it, cancel its query.
          this.deps.log('info', 'closing a client that stopped reading its result', { paused_ms: config.maxPausedMs });
          if (!flight) this.close();
        },
        clientDataOpen: () => this.clientDataOpen,
        onRetry: (err) => {
          // Nothing reached the client: try another reader with the same Query and client data.
          if (this.run === run) this.run = null;
          health?.reportFailure(lease.target, err.message);
          router.release(lease.group, lease.target);
          lease.pool.release(lease.conn, false);
          at.retriesLeft--;
          void this.runAttempt(at).then(() => this.pump());
        },
        onDone: ({ reusable, verify, error }) => {
          if (this.run === run) this.run = null;
          if (flight) {
            // The clients of the flight were ended by it (queryEnded); what is left is the backend's side.
            this.deps.events.bytes(0, run.bytesToBackend);
            router.release(lease.group, lease.target);
            if (error?.origin === 'proxy' && error.code === ProxyErrorCode.NETWORK_ERROR) health?.reportFailure(lease.target, 'connection lost mid-query');
            lease.pool.release(lease.conn, reusable, verify);
            return;
          }
          this.deps.events.bytes(this.sink.bytesOut - this.bytesReported, run.bytesToBackend);
          this.bytesReported = this.sink.bytesOut;
          if (this.attempt === at) this.attempt = null;
          at.admitted?.();
          if (!lease.pinned) router.release(lease.group, lease.target);
          if (error?.origin === 'proxy' && error.code === ProxyErrorCode.NETWORK_ERROR) health?.reportFailure(lease.target, 'connection lost mid-query');
          if (route === 'writer' && cls.kind !== 'read') this.lastWriteAt = Date.now();
          this.deps.events.queryDone(route, seconds(at.started), error, this.qi(q, cls));
          if (!lease.pinned) lease.pool.release(lease.conn, reusable, verify);
          else if (this.closed) this.releasePinned();
          // A backend that went silent was already reported to the client by the run (209): just end the session.
          else if (!reusable) this.losePinned(error?.origin === 'proxy' && error.code === ProxyErrorCode.SOCKET_TIMEOUT);
          if (!this.closed) void this.pump();
        },
      },
    );
    if (flight) flight.attach(run);
    else this.run = run;
    const timeoutMs = this.user?.queryTimeoutMs ?? 0;
    if (timeoutMs > 0) {
      run.setTimeout(timeoutMs, () =>
        exceptionPacket(replyError(ProxyErrorCode.TIMEOUT_EXCEEDED, `query exceeded query_timeout_ms (${timeoutMs} ms) of user ${this.user!.name}; it was cancelled`)),
      );
    }
    run.start(q.compression, at.queryBytes);
    // A retried read: the client's external tables and empty block go again.
    for (const chunks of at.replay) run.forward({ chunks } as FramedPacket);
  }

  private async runOnPinned(p: FramedPacket, q: ClientQuery, cls: Classification, injected: Setting[]): Promise<void> {
    const started = process.hrtime.bigint();
    // A pinned session may shadow tables with temporary ones: never cached.
    if (cls.kind === 'read') this.deps.cache?.cache.events.bypass('pinned');
    this.deps.events.query('writer', cls.kind, this.qi(q, cls));
    if (!this.pinned) {
      const target = this.deps.router.writer;
      const pool = this.poolFor(target, 'writer', this.database);
      try {
        this.pinned = { conn: await pool.checkout(), pool, pinned: true, target, group: DEFAULT_GROUP };
        this.deps.events.pinned(1);
        this.deps.log('debug', 'session pinned to a backend connection', { reason: cls.pins ?? 'pool_mode: session' });
      } catch (e) {
        this.sink.sendError(e);
        this.deps.events.queryDone('writer', seconds(started), { origin: 'proxy', code: toReplyError(e).chCode }, this.qi(q, cls));
        return;
      }
      if (this.closed) return this.releasePinned();
    }
    let queryBytes: readonly Buffer[];
    try {
      queryBytes = this.queryBytes(p, q, injected);
    } catch (e) {
      this.sink.sendError(e);
      return;
    }
    const at: Attempt = {
      q, cls, route: 'writer', group: DEFAULT_GROUP, started, queryBytes, admitted: null,
      tried: new Set(), retriesLeft: 0, retriable: false, replay: [], replayBytes: 0,
    };
    this.attempt = at;
    this.execute(at, this.pinned, 'writer');
  }

  private losePinned(alreadyTold = false): void {
    if (!this.pinned) return;
    this.pinned.pool.release(this.pinned.conn, false);
    this.pinned = null;
    this.deps.events.pinned(-1);
    // The session's server-side state (temporary tables, roles) is gone: end the session
    // rather than let later queries run without it.
    if (alreadyTold) {
      if (!this.socket.destroyed) this.socket.end();
    } else this.sink.fail(replyError(ProxyErrorCode.NETWORK_ERROR, 'the backend connection holding this session\'s state was lost'));
    this.close(true);
  }

  private releasePinned(): void {
    if (!this.pinned) return;
    // It carries session state (temporary tables): never lend it to anyone else.
    this.pinned.pool.release(this.pinned.conn, false);
    this.pinned = null;
    this.deps.events.pinned(-1);
  }

  private localReply(route: 'local', cls: Classification, error?: { chCode: number; message: string } | Failure, q: ClientQuery | null = null): void {
    const info = this.qi(q, cls);
    this.deps.events.query(route, cls.kind, info);
    if (error instanceof Failure) {
      this.sink.write(error.packet);
      this.deps.events.queryDone(route, 0, { origin: error.origin, code: error.chCode }, info);
    } else if (error) {
      this.sink.sendError(error);
      this.deps.events.queryDone(route, 0, { origin: 'proxy', code: error.chCode }, info);
    } else {
      this.writePacket({ code: ServerCode.EndOfStream });
      this.deps.events.queryDone(route, 0, undefined, info);
    }
  }

  /** USE db: answered by the proxy after checking on a backend that the database exists. */
  private async useDatabase(database: string): Promise<void> {
    const cls = { kind: 'session', statement: 'USE' } as Classification;
    const err = await this.internal.touch(this.lease('reader', database));
    if (!err) this.database = database;
    this.localReply('local', cls, err ?? undefined);
  }

  /** SET x = y: validated once on a backend (a SELECT 1 carrying the settings), then recorded. */
  private async setSettings(cls: Classification): Promise<void> {
    if (cls.session?.type !== 'set') return;
    const candidate = new Map(this.settings);
    for (const s of cls.session.settings) {
      candidate.delete(s.name);
      candidate.set(s.name, s.value);
    }
    const ctx = { ...this.queryContext(), settings: [...candidate].map(([name, value]) => ({ name, value, flags: 0 })) };
    const err = await this.internal.check(this.lease('reader'), ctx);
    if (!err) this.settings = candidate;
    this.localReply('local', cls, err ?? undefined);
  }

  private recordSettings(cls: Classification): void {
    if (cls.session?.type !== 'set') return;
    for (const s of cls.session.settings) {
      this.settings.delete(s.name);
      this.settings.set(s.name, s.value);
    }
  }

  private async tablesStatus(p: FramedPacket): Promise<void> {
    this.sink.write(await this.internal.forwardOne(this.lease('reader'), p.chunks, ServerCode.TablesStatusResponse));
  }

  // ---- end -------------------------------------------------------------------------------

  private clearHelloTimer(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
  }

  /**
   * Ends the session. `graceful`: an Exception was just written and the socket ended; let it
   * flush (destroy only if the client does not close within a few seconds).
   */
  close(graceful = false): void {
    if (this.closed) return;
    this.closed = true;
    this.clearHelloTimer();
    this.watchdog?.stop();
    const run = this.run;
    this.run = null;
    // abandon() hands the connection back through onDone, which drops a pinned connection.
    if (run && !run.finished) run.abandon();
    else this.releasePinned();
    this.cache.close();
    this.inbox = [];
    this.releaseConnection?.();
    this.releaseConnection = null;
    if (this.attempt && !run) this.attempt.admitted?.();
    if (graceful) setTimeout(() => this.socket.destroy(), 5_000).unref();
    else if (!this.socket.destroyed) this.socket.destroy();
    this.deps.events.clientClosed();
  }
}

