import { negotiate, Rev } from '../revision';

/**
 * What both directions of one native connection need to agree on to frame bytes: the revisions
 * from the two Hellos (every gate compares against their minimum, native-protocol.md §3.1) and
 * whether the current query compresses its blocks (the client's Query packet decides it for both
 * directions, §11.2). One instance is shared by the client→server and server→client framers of a
 * connection; the proxy may also set the fields itself for the legs whose Hello it authors.
 */
export class ConnectionState {
  clientRevision = 0;
  serverRevision = 0;
  /** The client's addendum (negotiated >= 54458) is still to come on the client→server stream. */
  addendumPending = false;
  /** The compression flag of the last Query packet; applies to Data blocks in both directions. */
  compression = false;

  /** The negotiated revision, or 0 while one of the Hellos is missing. */
  get revision(): number {
    if (!this.clientRevision || !this.serverRevision) return 0;
    return negotiate(this.clientRevision, this.serverRevision);
  }

  get handshakeDone(): boolean {
    return this.revision > 0 && !this.addendumPending;
  }

  onClientHello(revision: number): void {
    this.clientRevision = revision;
  }

  onServerHello(revision: number): void {
    this.serverRevision = revision;
    this.addendumPending = this.revision >= Rev.Addendum;
  }
}
