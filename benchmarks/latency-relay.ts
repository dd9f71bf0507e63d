/**
 * A TCP relay that puts a network between its clients and one backend, for the proxy benchmark's "remote backend"
 * rows: every chunk, in each direction, leaves `delayMs` after it arrived (one global FIFO: the delay is constant,
 * so due times are in arrival order and one timer serves every connection). Chunks are held side by side, not one
 * after another, so the relay adds latency without capping throughput. With `handshakeRtt`, a new connection's
 * client side is not read for 2 × delayMs after accept: on a real network the client's connect() returns one round
 * trip after its SYN, so its first bytes reach the server 1.5 round trips after it started, not 0.5.
 *
 * Why not test/helpers/relay.ts: it records every chunk (memory without bound over a benchmark) and computes due
 * times from Date.now() (1 ms steps, the size of the delay modelled here). This one keeps no data and measures the
 * hold it actually achieved per chunk (timers fire on the event loop's millisecond clock, so holds come out a little
 * above `delayMs`): the benchmark prints those figures next to its rows.
 *
 * Run as its own process (so its CPU is measurable apart from the load generator's, and its timers do not wait on
 * the load generator's work): `node -r ts-node/register/transpile-only benchmarks/latency-relay.ts --target PORT
 * --delay-ms D [--handshake-rtt]`. It prints `latency relay listening on 127.0.0.1:PORT`; a line `stats` on stdin
 * makes it print one JSON line of {@link HoldStats} (and reset them); it exits when stdin closes.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

/** Bytes the relay lets pile up in a destination socket's buffer before it stops reading the source. */
export const RELAY_HIGH_WATER_BYTES = 4 * 1024 * 1024;

/** Hold times are counted in buckets of this many ms, up to HOLD_BUCKETS of them (the last one catches the rest). */
const HOLD_BUCKET_MS = 0.01;
const HOLD_BUCKETS = 5000;

export interface LatencyRelayOptions {
  targetPort: number;
  targetHost?: string;
  /** One-way delay per chunk, ms (> 0). */
  delayMs: number;
  /** Model the TCP handshake's round trip before a client's first bytes go out (see the file comment). */
  handshakeRtt: boolean;
}

/** Achieved one-way hold per chunk, ms, since the last reset. */
export interface HoldStats {
  chunks: number;
  connections: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LatencyRelay {
  port: number;
  /** Hold statistics since the last call (or start), then reset. */
  takeStats(): HoldStats;
  close(): Promise<void>;
}

/** A queued action: deliver `data` to `to`, or resume reading `to` (the handshake hold ended). */
interface Due {
  at: number;
  arrived: number;
  to: Socket;
  data: Buffer | null;
}

class HoldHistogram {
  private buckets = new Uint32Array(HOLD_BUCKETS);
  private n = 0;
  private sum = 0;
  private max = 0;
  connections = 0;

  add(ms: number): void {
    this.buckets[Math.min(HOLD_BUCKETS - 1, Math.floor(ms / HOLD_BUCKET_MS))]++;
    this.n++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  private quantile(q: number): number {
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < HOLD_BUCKETS; i++) {
      seen += this.buckets[i];
      if (seen >= rank) return (i + 1) * HOLD_BUCKET_MS; // upper edge of the bucket
    }
    return NaN;
  }

  take(): HoldStats {
    const s: HoldStats = {
      chunks: this.n,
      connections: this.connections,
      meanMs: this.n ? this.sum / this.n : NaN,
      p50Ms: this.n ? this.quantile(0.5) : NaN,
      p99Ms: this.n ? this.quantile(0.99) : NaN,
      maxMs: this.n ? this.max : NaN,
    };
    this.buckets.fill(0);
    this.n = 0;
    this.sum = 0;
    this.max = 0;
    this.connections = 0;
    return s;
  }
}

export async function startLatencyRelay(opts: LatencyRelayOptions): Promise<LatencyRelay> {
  if (!(opts.delayMs > 0)) throw new Error(`delayMs must be > 0, got ${opts.delayMs}`);
  const delay = opts.delayMs;
  const queue: Due[] = [];
  let head = 0;
  let timer: NodeJS.Timeout | null = null;
  const holds = new HoldHistogram();
  const sockets = new Set<Socket>();

  const flush = (): void => {
    timer = null;
    const now = performance.now();
    while (head < queue.length && queue[head].at <= now) {
      const d = queue[head++];
      if (d.to.destroyed) continue;
      if (d.data === null) d.to.resume();
      else {
        holds.add(now - d.arrived);
        d.to.write(d.data);
      }
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else {
      if (head > 1024) {
        queue.splice(0, head);
        head = 0;
      }
      arm(now);
    }
  };

  // setTimeout counts whole milliseconds on the loop's clock: ask for at least the remaining time, rounded up, so
  // no chunk leaves early; the measured holds show how much later than `delay` they left.
  const arm = (now: number): void => {
    if (timer !== null || head >= queue.length) return;
    timer = setTimeout(flush, Math.max(1, Math.ceil(queue[head].at - now)));
  };

  const push = (to: Socket, data: Buffer | null, at: number, arrived: number): void => {
    queue.push({ at, arrived, to, data });
    arm(arrived);
  };

  const pipe = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      const now = performance.now();
      push(to, chunk, now + delay, now);
      // Backpressure: stop reading while the destination has more than the high-water mark unsent.
      if (to.writableLength > RELAY_HIGH_WATER_BYTES && !from.isPaused()) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
  };

  const server: Server = createServer({ pauseOnConnect: opts.handshakeRtt, noDelay: true }, (client) => {
    holds.connections++;
    const upstream = connect({ port: opts.targetPort, host: opts.targetHost ?? '127.0.0.1', noDelay: true });
    sockets.add(client).add(upstream);
    pipe(client, upstream);
    pipe(upstream, client);
    if (opts.handshakeRtt) {
      const now = performance.now();
      push(client, null, now + 2 * delay, now);
    }
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    takeStats: () => holds.take(),
    close: () =>
      new Promise<void>((resolve) => {
        if (timer) clearTimeout(timer);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const relay = await startLatencyRelay({
    targetPort: Number(flag('--target')),
    targetHost: flag('--target-host'),
    delayMs: Number(flag('--delay-ms')),
    handshakeRtt: process.argv.includes('--handshake-rtt'),
  });
  console.log(`latency relay listening on 127.0.0.1:${relay.port}`);
  const stop = (): void => void relay.close().then(() => process.exit(0));
  // stdin closing means the benchmark that started the relay is gone: do not outlive it.
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      if (line.trim() === 'stats') console.log(JSON.stringify(relay.takeStats()));
    })
    .on('close', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
