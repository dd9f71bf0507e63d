import { createServer, Server, Socket, connect } from 'node:net';

export interface RelayChunk {
  dir: 'c2s' | 's2c';
  conn: number;
  data: Buffer;
}

export interface Relay {
  port: number;
  /** Every chunk relayed, in the order the relay received them. */
  chunks: RelayChunk[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Changes the delay for chunks received from now on. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

/**
 * A TCP relay of the tests' own (127.0.0.1:port → target), like the one that made the vendored
 * 18.16 captures: forwards unchanged and records each direction's chunks. With `delayMs`, it
 * injects latency: every chunk, in both directions, leaves `delayMs` after it arrived, in order
 * (a chunk never overtakes an earlier one), so each round trip costs at least 2 × delayMs.
 */
export async function startRelay(targetPort: number, opts: { delayMs?: number; targetHost?: string } = {}): Promise<Relay> {
  const chunks: RelayChunk[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let delay = opts.delayMs ?? 0;
  let conns = 0;

  const pipe = (from: Socket, to: Socket, dir: 'c2s' | 's2c', conn: number): void => {
    let lastDue = 0;
    from.on('data', (d: Buffer) => {
      chunks.push({ dir, conn, data: Buffer.from(d) });
      if (delay <= 0) {
        to.write(d);
        return;
      }
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
    const conn = ++conns;
    const upstream = connect(targetPort, opts.targetHost ?? '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    pipe(client, upstream, 'c2s', conn);
    pipe(upstream, client, 's2c', conn);
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
    chunks,
    get connections() {
      return conns;
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
