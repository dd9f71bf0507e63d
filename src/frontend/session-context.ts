import type { BackendIdentity, BackendTarget, Pool, ServerInfo } from '../pool';
import { MIN_SUPPORTED_REVISION, PROXY_MAX_REVISION, type ClientHello, type ClientQuery } from '../protocol';
import type { Classification } from '../router';
import type { ProxyUser } from './auth';
import type { Lease, QueryInfo, SessionDeps } from './session-types';
import { DEFAULT_GROUP, type Route } from './targets';
import type { UserLimiter } from './user-limits';

/**
 * What the parts of one client session share: who the client is (set by the login, client-handshake.ts), the state
 * its statements set (USE, SET: session-statements.ts), and the pools its queries borrow backend connections from.
 */
export class SessionContext {
  /** The client's Hello, once the login succeeded; until then only a Hello is accepted. */
  hello: ClientHello | null = null;
  user: ProxyUser | null = null;
  clientIdentity: BackendIdentity = { user: 'default', password: '' };
  database = '';
  revision = 0;
  serverInfo: ServerInfo | null = null;
  /** Settings recorded from SET statements, in order; merged into every forwarded Query. */
  settings = new Map<string, string>();
  /** The proxy user's limiter, and the release of this connection's slot. */
  limiter: UserLimiter | null = null;
  releaseConnection: (() => void) | null = null;
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly deps: Pick<SessionDeps, 'router' | 'pools'>) {}

  /** The backend identity queries on `route` run as. */
  identityFor(route: Route): BackendIdentity {
    return this.deps.router.identity(route, this.clientIdentity, this.user ?? undefined);
  }

  /** A connection for the proxy's own requests (USE checks, SET checks, TablesStatus). */
  lease(route: Route, database = this.database): () => Promise<Lease> {
    return async () => {
      const pick = this.deps.router.pick(route, DEFAULT_GROUP);
      if ('chCode' in pick) throw pick;
      const pool = this.poolFor(pick.target, pick.route, database);
      // An idle connection at once when there is one (no promise, timer or queue entry: Pool.tryCheckout).
      const conn = pool.tryCheckout() ?? (await pool.checkout());
      return { conn, pool, pinned: false, target: pick.target, group: DEFAULT_GROUP };
    };
  }

  /** The pool for a backend, remembered per session (the key is hashed once, not per query). */
  poolFor(target: BackendTarget, route: Route, database: string): Pool {
    const k = `${route}\u0000${target.name}\u0000${target.host}:${target.port}\u0000${database}`;
    let pool = this.pools.get(k);
    if (!pool || pool.isClosed) {
      pool = this.deps.pools.pool({ target, identity: this.identityFor(route), database, revision: this.revision || this.serverInfo!.revision });
      this.pools.set(k, pool);
    }
    return pool;
  }

  /** What the proxy's own queries carry (SET checks): the session's revision, client name and settings. */
  queryContext() {
    const h = this.hello;
    return {
      revision: this.revision || Math.min(PROXY_MAX_REVISION, this.serverInfo?.revision ?? MIN_SUPPORTED_REVISION),
      clientName: h?.clientName ?? 'Gatehouse',
      settings: [...this.settings].map(([name, value]) => ({ name, value, flags: 0 })),
    };
  }

  /** Who ran which query, for events. */
  qi(q: ClientQuery | null, cls: Classification): QueryInfo {
    return { user: this.user?.name ?? this.clientIdentity.user, kind: cls.kind, queryId: q?.queryId ?? '' };
  }
}
