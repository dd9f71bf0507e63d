import type { BackendIdentity, BackendTarget } from '../pool';

export type Route = 'reader' | 'writer';

/** Where a session's queries can go, and as whom. */
export interface Backends {
  writer: BackendTarget;
  readers: BackendTarget[];
  /** Backend identities; null = the client's own credentials pass through. */
  readIdentity: BackendIdentity | null;
  writeIdentity: BackendIdentity | null;
}

/**
 * Chooses the backend for a route. Reads rotate over the readers (health-aware choice comes with
 * the cluster-routing work); with no reader, reads go to the writer.
 */
export class TargetChooser {
  private next = 0;

  constructor(private readonly backends: Backends) {}

  target(route: Route): BackendTarget {
    const { readers, writer } = this.backends;
    if (route === 'writer' || readers.length === 0) return writer;
    const t = readers[this.next % readers.length];
    this.next = (this.next + 1) % readers.length;
    return t;
  }

  identity(route: Route, client: BackendIdentity): BackendIdentity {
    const id = route === 'reader' ? this.backends.readIdentity : this.backends.writeIdentity;
    return id ?? client;
  }
}
