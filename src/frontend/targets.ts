import { Balancer, type BackendIdentity, type BackendTarget, type HealthMonitor } from '../pool';
import { ProxyErrorCode, replyError, type ReplyError } from './error-reply';

export type Route = 'reader' | 'writer';

/** One cluster the proxy fronts: a writer and its readers (architecture.md "Routing"). */
export interface BackendGroup {
  name: string;
  writer: BackendTarget;
  readers: { target: BackendTarget; weight: number }[];
}

/** Where a session's queries can go, and as whom. */
export interface Backends {
  /** The group named `default` (top-level writer/readers) first, then the named groups. */
  groups: BackendGroup[];
  /** Backend identities; null = the client's own credentials pass through. */
  readIdentity: BackendIdentity | null;
  writeIdentity: BackendIdentity | null;
}

export interface RouterOptions {
  /** When no reader is available, reads go to the writer (else Exception 279). */
  readsFallbackToWriter: boolean;
}

export const DEFAULT_GROUP = 'default';

/** A backend the router picked, and the route it serves the query on (a read on the writer stays a read). */
export interface Picked {
  target: BackendTarget;
  route: Route;
}

/** Every backend of every group with its role and weight (what the health checks watch). */
export function backendTargets(backends: Backends): { target: BackendTarget; role: Route; weight: number }[] {
  const out: { target: BackendTarget; role: Route; weight: number }[] = [];
  for (const g of backends.groups) {
    out.push({ target: g.writer, role: 'writer', weight: 1 });
    for (const r of g.readers) out.push({ target: r.target, role: 'reader', weight: r.weight });
  }
  return out;
}

/**
 * Chooses backends: reads by power-of-two-choices on outstanding queries among healthy readers
 * (src/pool/balancer.ts); the writer for writes, never replaced by a reader.
 */
export class BackendRouter {
  private readonly groups = new Map<string, { group: BackendGroup; balancer: Balancer }>();

  constructor(
    readonly backends: Backends,
    health: HealthMonitor | null,
    private readonly opts: RouterOptions,
  ) {
    for (const g of backends.groups) this.groups.set(g.name, { group: g, balancer: new Balancer(g.readers, health) });
  }
  /** The options this router was built with (a reload compares them). */
  get options(): Readonly<RouterOptions> {
    return this.opts;
  }


  hasGroup(name: string): boolean {
    return this.groups.has(name);
  }

  /** The writer of the default group: what the proxy presents to clients in its Hello. */
  get writer(): BackendTarget {
    return this.backends.groups[0].writer;
  }

  allTargets(): { target: BackendTarget; role: Route; weight: number }[] {
    return backendTargets(this.backends);
  }

  readers(groupName = DEFAULT_GROUP): BackendTarget[] {
    return this.groups.get(groupName)?.group.readers.map((r) => r.target) ?? [];
  }

  /**
   * A backend for a route. Reads skip `exclude` (readers already tried for this query); with no
   * reader left, the writer when allowed (reads_fallback_to_writer), else Exception 279.
   */
  pick(route: Route, groupName: string, exclude?: ReadonlySet<string>): Picked | ReplyError {
    const g = this.groups.get(groupName) ?? this.groups.get(DEFAULT_GROUP)!;
    if (route === 'writer') return { target: g.group.writer, route };
    // Reads that land on the writer (no readers, or none available) still run as the read identity.
    if (g.group.readers.length === 0) return { target: g.group.writer, route };
    const reader = g.balancer.pick(exclude);
    if (reader) return { target: reader, route };
    if (this.opts.readsFallbackToWriter && !exclude?.has(g.group.writer.name)) return { target: g.group.writer, route };
    return replyError(
      ProxyErrorCode.ALL_CONNECTION_TRIES_FAILED,
      `no reader of ${groupName} is available (${g.group.readers.map((r) => r.target.name).join(', ')} banned or failed) and reads_fallback_to_writer is off`,
    );
  }

  /** Outstanding-query accounting for the balancer. */
  acquire(groupName: string, target: BackendTarget): void {
    this.groups.get(groupName)?.balancer.acquire(target);
  }

  release(groupName: string, target: BackendTarget): void {
    this.groups.get(groupName)?.balancer.release(target);
  }

  identity(route: Route, client: BackendIdentity, user?: { readIdentity?: BackendIdentity; writeIdentity?: BackendIdentity }): BackendIdentity {
    const own = route === 'reader' ? user?.readIdentity : user?.writeIdentity;
    if (own) return own;
    const id = route === 'reader' ? this.backends.readIdentity : this.backends.writeIdentity;
    return id ?? client;
  }
}
