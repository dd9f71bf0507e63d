import { createServer, Server, Socket } from 'node:net';
import { ClientSession } from './client-session';
import type { SessionDeps } from './session-types';

export interface Listener {
  host: string;
  port: number;
  sessions(): number;
  /** Called for every accepted client connection (metrics). */
  onConnection: (() => void) | null;
  close(): Promise<void>;
}

/**
 * The native-protocol listener: one ClientSession per accepted socket. `highWaterMark` is set
 * explicitly (Node 20 defaults to 16 KiB) so backpressure thresholds do not depend on the Node
 * version (style.md §2.6).
 */
export async function listen(host: string, port: number, deps: SessionDeps, highWaterMark = 64 * 1024): Promise<Listener> {
  const sessions = new Set<ClientSession>();
  let listener: Listener | null = null;
  const server: Server = createServer({ highWaterMark, noDelay: true } as object, (socket: Socket) => {
    listener?.onConnection?.();
    const session = new ClientSession(socket, deps);
    sessions.add(session);
    socket.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as { port: number };
  listener = {
    host,
    port: address.port,
    sessions: () => sessions.size,
    onConnection: null,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.close();
        server.close(() => resolve());
      }),
  };
  return listener;
}
