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
 * injects latency: every chunk, in both directions, leaves `delayMs` after it arrived (or later), in order
 * (a chunk never overtakes an earlier one), so each round trip costs at least 2 × delayMs.
 */
export async function startRelay(targetPort: number, opts: { delayMs?: number; targetHost?: string } = {}): Promise<Relay> {
  const chunks: RelayChunk[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let delay = opts.delayMs ?? 0;
  let conns = 0;

  const pipe = (from: Socket, to: Socket, dir: 'c2s' | 's2c', conn: number): void => {
    // One queue and at most one timer per direction: a chunk is written only after every earlier one. (A timer per
    // chunk does not keep that order: Node times each timer from the event loop's cached clock, which lags
    // Date.now() by however long the loop has been busy, so a later chunk's timer could fire first and reorder the
    // stream: a server's EndOfStream ahead of its Data.)
    const queue: { due: number; data: Buffer }[] = [];
    let timer: NodeJS.Timeout | null = null;
    let ended = false;
    const flush = (): void => {
      if (timer) timers.delete(timer);
      timer = null;
      while (queue.length > 0 && queue[0]!.due <= Date.now()) {
        const { data } = queue.shift()!;
        if (!to.destroyed) to.write(data);
      }
      if (queue.length > 0) {
        timer = setTimeout(flush, Math.max(1, queue[0]!.due - Date.now()));
        timers.add(timer);
      } else if (ended && !to.destroyed) to.end();
    };
    // A side that finished sending: its FIN follows its last delayed chunk, as on a network.
    from.on('end', () => {
      ended = true;
      if (queue.length === 0 && !to.destroyed) to.end();
    });
    from.on('data', (d: Buffer) => {
      chunks.push({ dir, conn, data: Buffer.from(d) });
      if (delay <= 0 && queue.length === 0) {
        to.write(d);
        return;
      }
      queue.push({ due: Date.now() + delay, data: d });
      if (!timer) {
        timer = setTimeout(flush, Math.max(1, queue[0]!.due - Date.now()));
        timers.add(timer);
      }
    });
  };

  const server: Server = createServer((client) => {
    const conn = ++conns;
    const upstream = connect(targetPort, opts.targetHost ?? '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    pipe(client, upstream, 'c2s', conn);
    pipe(upstream, client, 's2c', conn);
    // An error on either side drops both at once (a reset); a clean close ends the other side after its data.
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', (hadError: boolean) => {
        sockets.delete(s);
        if (hadError) drop();
      });
    }
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
