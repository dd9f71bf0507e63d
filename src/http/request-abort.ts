/**
 * Ends an HTTP request's backend work when its client goes away or its query times out. An AbortSignal is made only
 * when something waits on one (a user limiter's queue), so most requests never pay for it.
 */
import type { ServerResponse } from 'node:http';
import type { Cut } from './backend-send';
import type { Exchange } from './exchange';

export class RequestAbort {
  /** Aborted, for whatever reason. */
  aborted = false;
  /** The client closed its connection before its answer was complete. */
  clientGone = false;
  private controller: AbortController | null = null;
  private exchange: Exchange | null = null;
  private onCut: Cut | null = null;
  private readonly onClose = (): void => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.abort();
  };

  constructor(private readonly res: ServerResponse) {
    if (res.closed) {
      // The client left before this request reached its backend work (while its body head was read or decoded, e.g.
      // when node:http met garbage after the body and closed the connection): its 'close' has already been emitted,
      // so it would never be seen. Everything from here on is aborted at once, and nothing reaches a backend.
      this.clientGone = true;
      this.aborted = true;
      return;
    }
    res.once('close', this.onClose);
  }

  signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted) this.controller.abort();
    return this.controller.signal;
  }

  /**
   * The backend exchange in progress (a retry replaces the previous one), and what to do when an abort cuts it while
   * its query may still run on the backend (send KILL QUERY).
   */
  attach(exchange: Exchange, onCut: Cut | null = null): void {
    this.exchange = exchange;
    this.onCut = onCut;
    // Aborted before this exchange was dispatched: it never reaches the backend, nothing to kill.
    if (this.aborted) exchange.abort(abortError(this.clientGone));
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.controller?.abort();
    const at = this.exchange?.abort(abortError(this.clientGone));
    if (at) this.onCut?.(this.clientGone, at);
  }

  dispose(): void {
    this.res.off('close', this.onClose);
  }
}

function abortError(clientGone: boolean): Error {
  return new Error(clientGone ? 'the client closed the connection' : 'the request was cancelled');
}
