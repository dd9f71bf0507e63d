import { encodeSimpleQuery, type BackendConnection, type Pool } from '../pool';
import {
  encodeServerPacket,
  FramedPacket,
  ServerCode,
  ServerException,
  Setting,
  Writer,
} from '../protocol';
import { exceptionPacket, toReplyError } from './error-reply';

/** A query the proxy runs failed: the Exception packet to give the client (the backend's own, unchanged, when it sent one). */
export class Failure {
  constructor(
    readonly packet: Buffer[],
    readonly chCode: number,
    readonly origin: 'backend' | 'proxy',
  ) {}

  static fromError(e: unknown): Failure {
    // A backend that refused the handshake (unknown database, wrong password) answered with an
    // Exception of its own: the client gets it unchanged, as from a direct connection.
    const backend = (e as { exception?: ServerException } | null)?.exception;
    if (backend && Array.isArray(backend.exceptions)) {
      const w = new Writer(256);
      encodeServerPacket(w, backend, 0);
      return new Failure([w.toBuffer()], backend.exceptions[0]?.code ?? 0, 'backend');
    }
    return new Failure([exceptionPacket(e)], toReplyError(e).chCode, 'proxy');
  }
}

interface Lease {
  conn: BackendConnection;
  pool: Pool;
}

export interface InternalQueryContext {
  revision: number;
  clientName: string;
  settings: Setting[];
}

/**
 * Queries the proxy runs for itself on pooled connections: checking that a database exists
 * (USE, Hello's default database) and that SET values are accepted, and forwarding single
 * request/response exchanges (TablesStatusRequest).
 */
export class InternalQueries {
  /** Borrows and returns a connection: proves the pool key (database, credentials) works. */
  async touch(lease: () => Promise<Lease>): Promise<Failure | null> {
    try {
      const l = await lease();
      l.pool.release(l.conn, true);
      return null;
    } catch (e) {
      return Failure.fromError(e);
    }
  }

  /** Runs `SELECT 1` with the context's settings; null when it succeeds, else the Failure to report. */
  async check(lease: () => Promise<Lease>, ctx: InternalQueryContext): Promise<Failure | null> {
    let request: Buffer;
    try {
      request = encodeSimpleQuery('SELECT 1', ctx.revision, ctx.settings);
    } catch (e) {
      // e.g. a setting the legacy binary format cannot carry (UnknownSettingError, 115).
      return Failure.fromError(e);
    }
    const reply = await this.exchange(lease, [request], ServerCode.EndOfStream);
    return reply instanceof Failure ? reply : null;
  }

  /** Sends one request and returns the bytes of the reply packet with `code` (or the Exception). */
  async forwardOne(lease: () => Promise<Lease>, request: readonly Buffer[], code: number): Promise<Buffer[]> {
    const reply = await this.exchange(lease, request, code);
    return reply instanceof Failure ? reply.packet : reply;
  }

  private async exchange(lease: () => Promise<Lease>, request: readonly Buffer[], until: number): Promise<Buffer[] | Failure> {
    let l: Lease;
    try {
      l = await lease();
    } catch (e) {
      return Failure.fromError(e);
    }
    const { conn, pool } = l;
    return new Promise((resolve) => {
      let reply: Buffer[] | null = null;
      const finish = (result: Buffer[] | Failure, reusable: boolean) => {
        conn.onPacket = null;
        conn.onFailure = null;
        pool.release(conn, reusable);
        resolve(result);
      };
      conn.onFailure = (err) => finish(Failure.fromError(err), false);
      conn.onPacket = (p: FramedPacket) => {
        if (p.code === ServerCode.Exception) {
          const code = (p.packet as ServerException).exceptions[0]?.code ?? 0;
          // Reused only after a Ping proves it (Pool.release: BackendConnection.endedInException).
          return finish(new Failure(p.chunks, code, 'backend'), true);
        }
        if (p.code === until && until !== ServerCode.EndOfStream) return finish(p.chunks, true);
        if (p.code === until) return finish(reply ?? [], true);
        if (p.code === ServerCode.EndOfStream) return finish(reply ?? [], true);
      };
      conn.beginQuery(false);
      if (conn.broken) return finish(Failure.fromError(conn.error ?? new Error('backend connection lost')), false);
      conn.write(request);
    });
  }
}
