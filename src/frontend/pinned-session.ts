import type { Socket } from 'node:net';
import type { ClientSink } from './client-sink';
import { ProxyErrorCode, replyError } from './error-reply';
import type { Lease, SessionDeps } from './session-types';

/** What the pinned connection needs from its session. */
export interface PinnedHost {
  readonly socket: Socket;
  close(graceful?: boolean): void;
}

/**
 * The one writer connection a session is pinned to when its state cannot be replayed on pooled connections
 * (temporary tables, SET ROLE, pool.mode: session): taken by the first such query (query-placement.ts), kept for the
 * session's life, never lent to anyone else; losing it ends the session.
 */
export class PinnedSession {
  /** The pinned connection; null until a query pins the session. */
  lease: Lease | null = null;

  constructor(
    private readonly host: PinnedHost,
    private readonly deps: Pick<SessionDeps, 'events' | 'log'>,
    private readonly sink: ClientSink,
  ) {}

  /** Keeps `lease` for the rest of the session. */
  hold(lease: Lease, reason: string): void {
    this.lease = lease;
    this.deps.events.pinned(1);
    this.deps.log('debug', 'session pinned to a backend connection', { reason });
  }

  /** The pinned connection failed or fell out of sync: the session ends. `alreadyTold`: the client got its Exception. */
  lose(alreadyTold = false): void {
    if (!this.lease) return;
    this.lease.pool.release(this.lease.conn, false);
    this.lease = null;
    this.deps.events.pinned(-1);
    // The session's server-side state (temporary tables, roles) is gone: end the session
    // rather than let later queries run without it.
    if (alreadyTold) {
      this.sink.end();
    } else this.sink.fail(replyError(ProxyErrorCode.NETWORK_ERROR, 'the backend connection holding this session\'s state was lost'));
    this.host.close(true);
  }

  /** The session ended: the connection goes back to its pool, dropped. */
  release(): void {
    if (!this.lease) return;
    // It carries session state (temporary tables): never lend it to anyone else.
    this.lease.pool.release(this.lease.conn, false);
    this.lease = null;
    this.deps.events.pinned(-1);
  }
}
