import type { Socket } from 'node:net';
import { ServerCode } from '../protocol';
import { exceptionPacket } from './error-reply';

/** Server packets after which the client speaks next: nothing else of this exchange is coming to send with them. */
const ENDS_EXCHANGE: ReadonlySet<number> = new Set([ServerCode.EndOfStream, ServerCode.Exception, ServerCode.Pong]);
const EXCEPTION = { code: ServerCode.Exception };
const EMPTY = Buffer.alloc(0);
/**
 * Up to this many bytes written in one tick leave as one buffer (one copy into it); more go out as a writev of the
 * chunks as they are (no copy of large results).
 */
const COALESCE_MAX_BYTES = 16 * 1024;

/**
 * The client socket as the relay sees it: writes that report backpressure (`false` when the socket's buffer and what
 * this tick still holds reach its high-water mark, as `socket.write` would: style.md §2.6), a way to pause reading
 * from the client, and Exceptions. The chunks written in one tick leave together at its end, so the small packets of
 * a query make one segment; the packet that ends an exchange (EndOfStream, Exception, Pong) leaves at once (flush).
 * The sink collects them itself rather than corking the socket: Node's corked writes keep a record, a callback slot
 * and a writev array per chunk, most of the allocations of a small query's answer.
 */
export class ClientSink {
  /**
   * Chunks written this tick and not yet handed to the socket: pending[0, pendingCount). The array is kept with its
   * capacity (slots emptied, not truncated: `length = 0` would drop the backing store and every tick would grow a new one).
   */
  private readonly pending: Buffer[] = [];
  private pendingCount = 0;
  private pendingBytes = 0;
  private flushScheduled = false;
  private readPauses = 0;
  bytesOut = 0;

  constructor(readonly socket: Socket) {}

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Bytes written and not yet handed to the socket (they leave at the end of the tick, or at flush()). */
  get held(): number {
    return this.pendingBytes;
  }

  /** `packet`, when given, is what the chunks hold: one that ends the exchange is flushed at once. */
  write(chunks: readonly Buffer[], packet?: { readonly code: number }): boolean {
    const s = this.socket;
    if (s.destroyed) return true;
    for (const c of chunks) {
      this.pending[this.pendingCount++] = c;
      this.pendingBytes += c.length;
      this.bytesOut += c.length;
    }
    if (packet !== undefined && ENDS_EXCHANGE.has(packet.code)) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushAtTickEnd);
    }
    return s.writableLength + this.pendingBytes < s.writableHighWaterMark;
  }

  /**
   * Hands what this tick wrote to the socket now instead of at the end of the tick. After the last packet of a query
   * the tick still releases the backend connection, counts the query and reads the client's next packet; sending
   * first lets the client start its next query meanwhile (`SELECT 1` at concurrency 1: +8 % queries per second,
   * measured A/B, benchmarks/RESULTS.md).
   */
  flush(): void {
    const n = this.pendingCount;
    if (n === 0) return;
    const s = this.socket;
    const pending = this.pending;
    if (!s.destroyed) {
      if (n === 1) s.write(pending[0]);
      else if (this.pendingBytes <= COALESCE_MAX_BYTES) {
        const joined = Buffer.allocUnsafe(this.pendingBytes);
        for (let i = 0, at = 0; i < n; i++) at += pending[i].copy(joined, at);
        s.write(joined);
      } else {
        s.cork();
        for (let i = 0; i < n; i++) s.write(pending[i]);
        s.uncork();
      }
    }
    for (let i = 0; i < n; i++) pending[i] = EMPTY;
    this.pendingCount = 0;
    this.pendingBytes = 0;
  }

  private readonly flushAtTickEnd = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Call `fn` once the client socket has taken what was written (what this tick holds is handed over first). */
  onDrain(fn: () => void): void {
    if (this.socket.destroyed) return;
    this.flush();
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
    this.end();
  }

  /** Close the connection once what was written (this tick's held chunks included) has gone out. */
  end(): void {
    this.flush();
    if (!this.socket.destroyed) this.socket.end();
  }
}
