import type { Socket } from 'node:net';
import { ServerCode } from '../protocol';
import { exceptionPacket } from './error-reply';

/**
 * The client socket as the relay sees it: writes that report backpressure (`false` from
 * `socket.write`, style.md §2.6), a way to pause reading from the client, and Exceptions.
 * Writes made in one tick are corked together so small packets leave in one segment; the packet that ends an
 * exchange (EndOfStream, Exception, Pong) leaves at once (flush).
 */
/** Server packets after which the client speaks next: nothing else of this exchange is coming to cork with. */
const ENDS_EXCHANGE: ReadonlySet<number> = new Set([ServerCode.EndOfStream, ServerCode.Exception, ServerCode.Pong]);
const EXCEPTION = { code: ServerCode.Exception };

export class ClientSink {
  private corked = false;
  private readPauses = 0;
  bytesOut = 0;

  constructor(readonly socket: Socket) {}

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** `packet`, when given, is what the chunks hold: one that ends the exchange is flushed at once. */
  write(chunks: readonly Buffer[], packet?: { readonly code: number }): boolean {
    const s = this.socket;
    if (s.destroyed) return true;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(() => this.flush());
    }
    let ok = true;
    for (const c of chunks) {
      this.bytesOut += c.length;
      ok = s.write(c) && ok;
    }
    if (packet !== undefined && ENDS_EXCHANGE.has(packet.code)) this.flush();
    return ok;
  }

  /**
   * Sends what this tick's writes corked now instead of at the end of the tick. After the last packet of a query the
   * tick still releases the backend connection, counts the query and reads the client's next packet; sending first
   * lets the client start its next query meanwhile (`SELECT 1` at concurrency 1: +13 % queries per second, measured
   * A/B, benchmarks/RESULTS.md).
   */
  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  /** Call `fn` once the client socket has flushed its buffer. */
  onDrain(fn: () => void): void {
    if (this.socket.destroyed) return;
    if (this.socket.writableNeedDrain) this.socket.once('drain', fn);
    else process.nextTick(fn);
  }

  /** Stop reading from the client until `register`'s callback fires (backpressure towards the client). */
  pauseUntil(register: (resume: () => void) => void): void {
    this.readPauses++;
    this.socket.pause();
    let resumed = false;
    register(() => {
      if (resumed) return;
      resumed = true;
      if (--this.readPauses === 0 && !this.socket.destroyed) this.socket.resume();
    });
  }

  sendError(err: unknown): void {
    this.write([exceptionPacket(err)], EXCEPTION);
  }

  /** Send an Exception, then close once it is flushed. */
  fail(err: unknown): void {
    if (this.socket.destroyed) return;
    this.sendError(err);
    this.socket.end();
  }
}
