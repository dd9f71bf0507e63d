import type { Socket } from 'node:net';
import { exceptionPacket } from './error-reply';

/**
 * The client socket as the relay sees it: writes that report backpressure (`false` from
 * `socket.write`, style.md §2.6), a way to pause reading from the client, and Exceptions.
 * Writes made in one tick are corked together so small packets leave in one segment.
 */
export class ClientSink {
  private corked = false;
  private readPauses = 0;
  bytesOut = 0;

  constructor(readonly socket: Socket) {}

  get closed(): boolean {
    return this.socket.destroyed;
  }

  write(chunks: readonly Buffer[]): boolean {
    const s = this.socket;
    if (s.destroyed) return true;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(() => {
        this.corked = false;
        s.uncork();
      });
    }
    let ok = true;
    for (const c of chunks) {
      this.bytesOut += c.length;
      ok = s.write(c) && ok;
    }
    return ok;
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
    this.write([exceptionPacket(err)]);
  }

  /** Send an Exception, then close once it is flushed. */
  fail(err: unknown): void {
    if (this.socket.destroyed) return;
    this.sendError(err);
    this.socket.end();
  }
}
