/**
 * A client that stops in the middle of its request body is closed after `connections.receive_timeout_ms` without a
 * byte of it, as the native port closes a client that stops in the middle of a packet (and as ClickHouse's own
 * receive timeout ends a direct request whose body stalls). Without it, a request whose body never completes would
 * hold its socket, and possibly a backend connection streaming that body, for as long as the client likes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Arms the clock on `req` until its body has ended (or the request closed). The clock is node:http's socket
 * inactivity timeout. It does not count the proxy's own pauses: a silence while body bytes wait unread in `req`'s
 * buffer (the backend is slow to take INSERT data, the request waits for a slot) is the proxy's, so the clock restarts.
 */
export function watchBodyReceive(req: IncomingMessage, res: ServerResponse, timeoutMs: number, onTimeout: () => void): void {
  if (timeoutMs <= 0 || req.complete) return;
  const onIdle = (): void => {
    if (req.complete) return;
    if (req.readableLength > 0) {
      req.setTimeout(timeoutMs);
      return;
    }
    done();
    onTimeout();
  };
  const done = (): void => {
    req.off('timeout', onIdle);
    req.off('end', done);
    req.off('close', done);
    // Back to the server's own setting (none: a long query may be silent for minutes). Once the answer is out (the
    // proxy answered before reading the body, which node:http then drains), the socket's timer is node:http's
    // keep-alive timeout, which must stay.
    if (!req.socket.destroyed && !res.writableFinished) req.setTimeout(0);
  };
  req.setTimeout(timeoutMs);
  req.on('timeout', onIdle);
  req.once('end', done);
  req.once('close', done);
}
