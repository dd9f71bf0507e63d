import { ServerCode, type ClientQuery, type encodeServerPacket, type FramedPacket } from '../protocol';
import type { Classification } from '../router';
import type { ClientSink } from './client-sink';
import { Failure, type InternalQueries } from './internal-queries';
import type { SessionContext } from './session-context';
import type { SessionDeps } from './session-types';

/** What the session statements need from their session. */
export interface StatementsHost {
  /** Writes a packet the proxy makes itself, at the session's revision. */
  writePacket(packet: Parameters<typeof encodeServerPacket>[1]): void;
}

/**
 * What the proxy answers itself instead of a backend: USE and SET (checked on a backend, then kept in the session's
 * context and applied to each later query), TablesStatusRequest, and refusals.
 */
export class SessionStatements {
  constructor(
    private readonly host: StatementsHost,
    private readonly deps: Pick<SessionDeps, 'events'>,
    private readonly ctx: SessionContext,
    private readonly sink: ClientSink,
    private readonly internal: InternalQueries,
  ) {}

  /** Ends a statement the proxy answered: EndOfStream, or the error; counted as a local query. */
  localReply(route: 'local', cls: Classification, error?: { chCode: number; message: string } | Failure, q: ClientQuery | null = null): void {
    const info = this.ctx.qi(q, cls);
    this.deps.events.query(route, cls.kind, info);
    if (error instanceof Failure) {
      this.sink.write(error.packet);
      this.deps.events.queryDone(route, 0, { origin: error.origin, code: error.chCode }, info);
    } else if (error) {
      this.sink.sendError(error);
      this.deps.events.queryDone(route, 0, { origin: 'proxy', code: error.chCode }, info);
    } else {
      this.host.writePacket({ code: ServerCode.EndOfStream });
      this.deps.events.queryDone(route, 0, undefined, info);
    }
  }

  /** USE db: answered by the proxy after checking on a backend that the database exists. */
  async useDatabase(database: string): Promise<void> {
    const cls = { kind: 'session', statement: 'USE' } as Classification;
    const err = await this.internal.touch(this.ctx.lease('reader', database));
    if (!err) this.ctx.database = database;
    this.localReply('local', cls, err ?? undefined);
  }

  /** SET x = y: validated once on a backend (a SELECT 1 carrying the settings), then recorded. */
  async setSettings(cls: Classification): Promise<void> {
    if (cls.session?.type !== 'set') return;
    const candidate = new Map(this.ctx.settings);
    for (const s of cls.session.settings) {
      candidate.delete(s.name);
      candidate.set(s.name, s.value);
    }
    const ctx = { ...this.ctx.queryContext(), settings: [...candidate].map(([name, value]) => ({ name, value, flags: 0 })) };
    const err = await this.internal.check(this.ctx.lease('reader'), ctx);
    if (!err) this.ctx.settings = candidate;
    this.localReply('local', cls, err ?? undefined);
  }

  /** A SET that runs on the pinned connection (its backend checks it): recorded as a checked SET would be. */
  recordSettings(cls: Classification): void {
    if (cls.session?.type !== 'set') return;
    for (const s of cls.session.settings) {
      this.ctx.settings.delete(s.name);
      this.ctx.settings.set(s.name, s.value);
    }
  }

  /** TablesStatusRequest: forwarded to a reader, its response (or Exception) returned. */
  async tablesStatus(p: FramedPacket): Promise<void> {
    this.sink.write(await this.internal.forwardOne(this.ctx.lease('reader'), p.chunks, ServerCode.TablesStatusResponse));
  }
}
