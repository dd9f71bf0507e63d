/**
 * A client that stops in the middle of its request body is closed after `connections.receive_timeout_ms` without a
 * byte of it, as the native port closes a client that stops in the middle of a packet (and as ClickHouse's own
 * receive timeout ends a direct request whose body stalls). Without it, a request whose body never completes would
 * hold its socket, and possibly a backend connection streaming that body, for as long as the client likes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Arms the clock on a request with a body until the body has arrived whole (or the request closed). The clock is
 * node:http's socket inactivity timeout, heard on `res`: node:http tells `req` of it only while the body is
 * incomplete, and with no listener at all it destroys the socket, which would cut a silent query whose body had
 * arrived but was not read yet (a request queued for a slot). It does not count the proxy's own pauses: a silence
 * while body bytes wait unread in `req`'s buffer (a backend slow to take INSERT data) restarts the clock.
 */
export function watchBodyReceive(req: IncomingMessage, res: ServerResponse, timeoutMs: number, onTimeout: () => void): void {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (timeoutMs <= 0 || !hasBody || req.complete) return;
  const onIdle = (): void => {
    if (req.complete) return done();
    if (req.readableLength > 0) {
      res.setTimeout(timeoutMs);
      return;
    }
    done();
    onTimeout();
  };
  const done = (): void => {
    res.off('timeout', onIdle);
    req.off('end', done);
    req.off('close', done);
    // Back to the server's own setting (none: a long query may be silent for minutes). Once the answer is out (the
    // proxy answered before reading the body, which node:http then drains), the socket's timer is node:http's
    // keep-alive timeout, which must stay.
    if (!req.socket.destroyed && !res.writableFinished) res.setTimeout(0);
  };
  res.setTimeout(timeoutMs);
  res.on('timeout', onIdle);
  req.once('end', done);
  req.once('close', done);
}
