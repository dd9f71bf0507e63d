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
  close(): Promise<void>;
}

/**
 * A byte relay of the tests' own (127.0.0.1:port → target): forwards unchanged and records each
 * direction's chunks, like the relay that made the vendored 18.16 captures.
 */
export async function startRelay(targetPort: number, targetHost = '127.0.0.1'): Promise<Relay> {
  const chunks: RelayChunk[] = [];
  const sockets = new Set<Socket>();
  let conns = 0;
  const server: Server = createServer((client) => {
    const conn = ++conns;
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d) => {
      chunks.push({ dir: 'c2s', conn, data: Buffer.from(d) });
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      chunks.push({ dir: 's2c', conn, data: Buffer.from(d) });
      client.write(d);
    });
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
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
