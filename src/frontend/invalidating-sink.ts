import type { FramedPacket } from '../protocol';
import { ServerCode } from '../protocol';
import type { RunSink } from './query-run';

/**
 * The sink of a write while the result cache is on: the write's last packet (EndOfStream, Exception, or the proxy's
 * own error) reaches the client only after the cache entries that read the written tables are invalidated, so a
 * client that saw its INSERT finish never reads the old result from the cache afterwards, on any instance sharing
 * the store. Invalidation also follows a failed write: a failed INSERT may have written some blocks.
 */
export class InvalidatingSink implements RunSink {
  constructor(
    private readonly inner: RunSink,
    private readonly invalidate: () => Promise<void>,
  ) {}

  write(chunks: readonly Buffer[], p?: FramedPacket): boolean {
    if (p !== undefined && p.code !== ServerCode.EndOfStream && p.code !== ServerCode.Exception) return this.inner.write(chunks, p);
    void this.invalidate().finally(() => this.inner.write(chunks, p));
    return true;
  }

  onDrain(fn: () => void): void {
    this.inner.onDrain(fn);
  }

  pauseUntil(register: (resume: () => void) => void): void {
    this.inner.pauseUntil(register);
  }

  sendError(err: unknown): void {
    void this.invalidate().finally(() => this.inner.sendError(err));
  }
}
