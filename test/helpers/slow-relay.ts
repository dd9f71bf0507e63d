import { createServer, Server, Socket, connect } from 'node:net';

export interface SlowRelay {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Changes the delay for chunks received from now on. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

/**
 * A fault-injecting TCP relay of the tests' own (127.0.0.1:port → target): every chunk, in both directions, is
 * forwarded `delayMs` after it arrived, in order (a chunk never overtakes an earlier one). A backend behind it
 * answers correctly but slowly: each request/response round trip costs at least 2 × delayMs.
 */
export async function startSlowRelay(targetPort: number, delayMs: number, targetHost = '127.0.0.1'): Promise<SlowRelay> {
  let delay = delayMs;
  let connections = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  /** Forwards `from`'s chunks to `to`, each delayed, order kept (a chunk is due no earlier than the previous one). */
  const pipeDelayed = (from: Socket, to: Socket): void => {
    let lastDue = 0;
    from.on('data', (d: Buffer) => {
      const due = Math.max(Date.now() + delay, lastDue);
      lastDue = due;
      const t = setTimeout(() => {
        timers.delete(t);
        if (!to.destroyed) to.write(d);
      }, due - Date.now());
      timers.add(t);
    });
  };

  const server: Server = createServer((client) => {
    connections++;
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get connections() {
      return connections;
    },
    setDelay(ms: number) {
      delay = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
