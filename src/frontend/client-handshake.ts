import type { Socket } from 'node:net';
import { negotiate, PROXY_MAX_REVISION, ServerCode, Writer, encodeServerPacket, type ClientHello } from '../protocol';
import type { ClientSink } from './client-sink';
import { ProxyErrorCode, replyError, toReplyError } from './error-reply';
import { Failure, type InternalQueries } from './internal-queries';
import { checkLogin, findServerInfo } from './login';
import type { SessionContext } from './session-context';
import type { SessionDeps } from './session-types';

/** Default of connections.handshake_timeout_ms: time from connect to a complete Hello. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Error codes that mean a failed login, counted by the login guard. */
const AUTH_FAILURES: ReadonlySet<number> = new Set([ProxyErrorCode.AUTHENTICATION_FAILED, 192, 193]);

/** What the handshake needs from its session. */
export interface HandshakeHost {
  readonly socket: Socket;
  readonly isClosed: boolean;
  close(graceful?: boolean): void;
  /** The server Hello at `revision` went out: the session goes on with the client's next packets. */
  loggedIn(revision: number): void;
}

/**
 * A client's handshake: its Hello must be complete within connections.handshake_timeout_ms; then the login (proxy
 * user, or the client's own credentials passed through), the backends' server info, and the server Hello the proxy
 * answers with itself. The results go into the session's context.
 */
export class ClientHandshake {
  /** Armed until the client's Hello is complete: a client that trickles or withholds it is closed. */
  private helloTimer: NodeJS.Timeout | null;

  constructor(
    private readonly host: HandshakeHost,
    private readonly deps: SessionDeps,
    private readonly ctx: SessionContext,
    private readonly sink: ClientSink,
    private readonly internal: InternalQueries,
  ) {
    // connections.handshake_timeout_ms; SessionConfig does not carry it yet, hence the optional read.
    const helloMs = deps.config.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.helloTimer = setTimeout(() => this.helloTimedOut(helloMs), helloMs);
    this.helloTimer.unref();
  }

  /** No complete Hello in time (slowloris, or a client that never speaks): 159, then closed. */
  private helloTimedOut(ms: number): void {
    this.helloTimer = null;
    if (this.host.isClosed) return;
    this.deps.log('info', 'closing client: no Hello in time', { remote: this.host.socket.remoteAddress ?? '', ms });
    this.sink.fail(replyError(ProxyErrorCode.TIMEOUT_EXCEEDED, `Gatehouse: no complete Hello within ${ms} ms (connections.handshake_timeout_ms)`));
    this.host.close(true);
  }

  /** Answers the client's complete Hello: login, backend checks, then the server Hello (or an Exception and close). */
  async onHello(hello: ClientHello): Promise<void> {
    // The Hello is complete: what follows (login, backend checks) has its own timeouts.
    this.stop();
    const { config } = this.deps;
    const ctx = this.ctx;
    const address = this.host.socket.remoteAddress ?? '';
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
    ({ user: ctx.user, limiter: ctx.limiter, releaseConnection: ctx.releaseConnection } = login);
    const identitiesSet = ctx.user !== null;
    ctx.clientIdentity = { user: hello.user || 'default', password: hello.password };
    ctx.database = hello.database || ctx.user?.database || '';
    const found = await findServerInfo(this.deps.router, this.deps.pools, (route) => ctx.identityFor(route));
    if ('error' in found) return this.failHandshake(found.error);
    ctx.serverInfo = found;
    const advertised = Math.min(PROXY_MAX_REVISION, ctx.serverInfo.revision);
    ctx.revision = negotiate(hello.revision, advertised);
    if (ctx.database || !identitiesSet) {
      // A backend connection opened in the Hello's database proves that it exists (the server
      // refuses the handshake otherwise, code 81) and, in pass-through mode, the client's
      // password (pools are keyed by user and a hash of the password). An idle pooled one
      // proved it when it was opened.
      const failure = await this.internal.touch(ctx.lease(identitiesSet ? 'reader' : 'writer', ctx.database));
      if (failure) return this.failHandshake(failure);
    }
    ctx.hello = hello;
    guard?.succeeded(address);
    const info = ctx.serverInfo;
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
      ctx.revision,
    );
    this.sink.write([w.toBuffer()]);
    this.host.loggedIn(advertised);
  }

  private failHandshake(err: unknown): void {
    const code = err instanceof Failure ? err.chCode : toReplyError(err).chCode;
    const socket = this.host.socket;
    // 516 from the proxy's own check; 192/193 (UNKNOWN_USER, WRONG_PASSWORD) from a backend in pass-through mode.
    if (AUTH_FAILURES.has(code) && this.deps.loginGuard?.failed(socket.remoteAddress ?? '')) {
      this.deps.log('warn', 'failed logins: address blocked', { address: socket.remoteAddress ?? '' });
    }
    if (err instanceof Failure) {
      this.sink.write(err.packet);
      this.sink.end();
    } else this.sink.fail(err);
    this.host.close(true);
  }

  /** Disarms the Hello timer (the Hello arrived, or the session closed). */
  stop(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
  }
}
