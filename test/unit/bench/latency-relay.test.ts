/**
 * The proxy benchmark's latency relay (benchmarks/latency-relay.ts) in front of an in-process echo server: each
 * direction holds a chunk at least `delayMs`, chunks in flight overlap instead of queueing behind each other, bytes
 * arrive whole and in order, and the handshake model delays a new connection's first bytes by one round trip.
 * Delays are large (tens of ms) so that timer jitter on a loaded machine cannot decide the outcome; upper bounds are
 * generous and only there to tell "overlapping" from "one after another".
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { startLatencyRelay, type LatencyRelay } from '../../../benchmarks/latency-relay';

let echo: Server;
let echoPort: number;
const relays: LatencyRelay[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  echo = createServer((s) => s.on('data', (d) => s.write(d)));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as { port: number }).port;
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

afterAll(() => new Promise<void>((r) => echo.close(() => r())));

async function relay(delayMs: number, handshakeRtt = false): Promise<LatencyRelay> {
  const r = await startLatencyRelay({ targetPort: echoPort, delayMs, handshakeRtt });
  relays.push(r);
  return r;
}

async function open(port: number): Promise<Socket> {
  const s = connect({ port, host: '127.0.0.1', noDelay: true });
  sockets.push(s);
  await new Promise((r) => s.once('connect', r));
  return s;
}

/** Resolves with the time (performance.now()) at which `bytes` bytes in total have come back. */
function receive(s: Socket, bytes: number, into: Buffer[] = []): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    const on = (d: Buffer): void => {
      into.push(d);
      got += d.length;
      if (got >= bytes) {
        s.off('data', on);
        resolve(performance.now());
      }
    };
    s.on('data', on);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('holds every chunk at least delayMs in each direction', async () => {
  const r = await relay(40);
  const s = await open(r.port);
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const back = receive(s, 5);
    s.write('hello');
    const rtt = (await back) - t0;
    expect(rtt).toBeGreaterThanOrEqual(80 - 1); // performance.now() vs the timer clock: allow 1 ms of rounding
    expect(rtt).toBeLessThan(80 + 400);
  }
  const stats = r.takeStats();
  expect(stats.chunks).toBeGreaterThanOrEqual(6);
  expect(stats.connections).toBe(1);
  expect(stats.p50Ms).toBeGreaterThanOrEqual(40);
  // Reading resets them.
  expect(r.takeStats().chunks).toBe(0);
});

it('overlaps chunks in flight (latency, not a throughput cap) and keeps bytes whole and in order', async () => {
  const r = await relay(100);
  const s = await open(r.port);
  const parts = Array.from({ length: 8 }, (_, i) => Buffer.alloc(1000 + i, 0x41 + i));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const got: Buffer[] = [];
  const t0 = performance.now();
  const done = receive(s, total, got);
  for (const p of parts) {
    s.write(p);
    await sleep(10);
  }
  const elapsed = (await done) - t0;
  expect(Buffer.concat(got).equals(Buffer.concat(parts))).toBe(true);
  // Overlapping: the last part left at ~70 ms and needs one round trip (200 ms). One after another would take
  // 8 round trips (1.6 s).
  expect(elapsed).toBeGreaterThanOrEqual(200 + 70 - 1);
  expect(elapsed).toBeLessThan(800);
});

it('with handshakeRtt, a new connection pays one more round trip before its first bytes, later ones do not', async () => {
  const r = await relay(100, true);
  const t0 = performance.now();
  const s = await open(r.port);
  const first = receive(s, 1);
  s.write('x');
  const firstRtt = (await first) - t0;
  // The handshake (2 × 100) and the round trip itself (2 × 100).
  expect(firstRtt).toBeGreaterThanOrEqual(400 - 1);
  const t1 = performance.now();
  const second = receive(s, 1);
  s.write('y');
  const secondRtt = (await second) - t1;
  expect(secondRtt).toBeGreaterThanOrEqual(200 - 1);
  expect(secondRtt).toBeLessThan(400);
});

it('without handshakeRtt, the first round trip costs just the round trip', async () => {
  const r = await relay(100, false);
  const t0 = performance.now();
  const s = await open(r.port);
  const first = receive(s, 1);
  s.write('x');
  const firstRtt = (await first) - t0;
  expect(firstRtt).toBeGreaterThanOrEqual(200 - 1);
  expect(firstRtt).toBeLessThan(400);
});
