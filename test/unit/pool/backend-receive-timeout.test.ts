/**
 * pool.receive_timeout_ms on one BackendConnection, against a loopback fake server that goes silent when told: a
 * server that owes an answer and sends nothing fails the connection with 209; Progress keeps it alive; the proxy's own
 * pause (backpressure) and a server waiting for the client's data do not count as the server's silence; an idle
 * connection is never failed.
 */
import * as net from 'node:net';
import { BackendConnection, BackendTimeoutError, type ProxyError } from '../../../src/pool';
import { ServerCode, Writer, encodeServerPacket, type FramedPacket, type ServerPacket } from '../../../src/protocol';

const REV = 54412;
const TIMEOUT_MS = 300;

interface Fake {
  port: number;
  received: () => number;
  send: (p: ServerPacket) => void;
  /** Stop reading what the proxy sends (its send buffer then fills up). */
  stopReading: () => void;
  close: () => Promise<void>;
}

async function fakeServer(): Promise<Fake> {
  let sock: net.Socket | null = null;
  let bytes = 0;
  const server = net.createServer((s) => {
    sock = s;
    s.on('data', (c: Buffer) => (bytes += c.length));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => bytes,
    send: (p) => {
      const w = new Writer();
      encodeServerPacket(w, p, REV);
      sock!.write(w.toBuffer());
    },
    stopReading: () => sock!.pause(),
    close: () =>
      new Promise<void>((r) => {
        sock?.destroy();
        server.close(() => r());
      }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(5);
  expect(cond()).toBe(true);
}

const HELLO: ServerPacket = {
  code: ServerCode.Hello,
  serverName: 'ClickHouse',
  versionMajor: 18,
  versionMinor: 16,
  revision: REV,
  timezone: 'UTC',
  displayName: 'fake',
  versionPatch: 1,
};
const PROGRESS: ServerPacket = { code: ServerCode.Progress, readRows: 1, readBytes: 8, totalRowsToRead: 0, writtenRows: 0, writtenBytes: 0 };

/** A connection to a fresh fake, with the borrower's handlers recording what it gets. */
async function open(receiveTimeoutMs = TIMEOUT_MS) {
  const fake = await fakeServer();
  const connecting = BackendConnection.connect({
    target: { name: 'reader1', host: '127.0.0.1', port: fake.port },
    identity: { user: 'gh_reader', password: 'p' },
    database: '',
    revision: REV,
    connectTimeoutMs: 2_000,
    receiveTimeoutMs,
  });
  await until(() => fake.received() > 0);
  fake.send(HELLO);
  const conn = await connecting;
  const seen = { packets: [] as FramedPacket[], failure: null as ProxyError | null, failedAt: 0 };
  conn.onPacket = (p) => seen.packets.push(p);
  conn.onFailure = (err) => {
    seen.failure = err;
    seen.failedAt = Date.now();
  };
  return { fake, conn, seen };
}

/** Opens an exchange the way a query does: beginQuery, then the request's bytes. */
function startQuery(conn: BackendConnection): number {
  conn.beginQuery(false);
  conn.write(Buffer.from('query bytes'));
  return Date.now();
}

test('a server that owes an answer and sends nothing: 209 naming the backend and the setting, connection closed', async () => {
  const { fake, conn, seen } = await open();
  try {
    const t0 = startQuery(conn);
    await until(() => seen.failure !== null, 5_000);
    expect(seen.failure).toBeInstanceOf(BackendTimeoutError);
    expect(seen.failure).toMatchObject({ chCode: 209, code: 'ERR_BACKEND_TIMEOUT', retriable: false });
    expect(seen.failure!.message).toBe(
      'Gatehouse: reader1 (127.0.0.1:' + fake.port + ') as gh_reader sent nothing for 300 ms while a query waited for it ' +
        '(pool.receive_timeout_ms); the connection to it was closed',
    );
    expect(seen.failedAt - t0).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(conn.broken).toBe(true);
    expect(conn.error).toBe(seen.failure);
  } finally {
    conn.destroy();
    await fake.close();
  }
});

test('Progress every 100 ms keeps a query alive well past the timeout; silence after it still fails', async () => {
  const { fake, conn, seen } = await open();
  try {
    startQuery(conn);
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      fake.send(PROGRESS);
    }
    await until(() => seen.packets.length === 10);
    expect(seen.failure).toBeNull();
    fake.send({ code: ServerCode.EndOfStream });
    await until(() => seen.packets.length === 11);
    expect(conn.inQuery).toBe(false);
    // Idle now (the query ended): nothing is owed, nothing fails.
    await sleep(TIMEOUT_MS * 3);
    expect(seen.failure).toBeNull();
    expect(conn.broken).toBe(false);
    // The next query starts the clock again.
    const t1 = startQuery(conn);
    await until(() => seen.failure !== null, 5_000);
    expect(seen.failure!.chCode).toBe(209);
    expect(seen.failedAt - t1).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
  } finally {
    conn.destroy();
    await fake.close();
  }
});

test('paused by the proxy (the client is slow): not the server\'s silence; after resume() the clock restarts', async () => {
  const { fake, conn, seen } = await open();
  try {
    startQuery(conn);
    conn.pause();
    await sleep(TIMEOUT_MS * 3);
    expect(seen.failure).toBeNull();
    const resumed = Date.now();
    conn.resume();
    await until(() => seen.failure !== null, 5_000);
    expect(seen.failure!.chCode).toBe(209);
    expect(seen.failedAt - resumed).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
  } finally {
    conn.destroy();
    await fake.close();
  }
});

test('the server waiting for the client\'s data is not its silence; once the client\'s data is in, it is', async () => {
  const { fake, conn, seen } = await open();
  try {
    let clientOwes = true;
    startQuery(conn);
    conn.waitingForClient = () => clientOwes;
    fake.send({ code: ServerCode.Data, tableName: '', block: { columns: [] } } as never);
    await sleep(TIMEOUT_MS * 3);
    expect(seen.failure).toBeNull();
    // The client's last block goes out: from now on the server owes the answer.
    clientOwes = false;
    const sent = Date.now();
    conn.write(Buffer.from('empty block'));
    await until(() => seen.failure !== null, 5_000);
    expect(seen.failure!.chCode).toBe(209);
    expect(seen.failedAt - sent).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
  } finally {
    conn.destroy();
    await fake.close();
  }
});

test('a server that stops taking the client\'s data (send buffer full) fails even while the client owes data', async () => {
  const { fake, conn, seen } = await open();
  try {
    startQuery(conn);
    conn.waitingForClient = () => true;
    fake.stopReading();
    // Write as the relay does (wait for 'drain' after a false) until the kernel's buffers are full and no drain comes.
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 256; i++) {
      if (conn.write(chunk)) continue;
      const drained = await Promise.race([new Promise<boolean>((r) => conn.whenWritable(() => r(true))), sleep(100).then(() => false)]);
      if (!drained) break;
    }
    const stuck = Date.now();
    await until(() => seen.failure !== null, 10_000);
    // Node reports a socket timeout only once a whole period passed without the write queue shrinking.
    expect(seen.failedAt - stuck).toBeLessThan(TIMEOUT_MS * 3 + 500);
    expect(seen.failure!.chCode).toBe(209);
  } finally {
    conn.destroy();
    await fake.close();
  }
});

test('an idle connection (no query) is never failed; receive timeout 0 means no limit', async () => {
  const idle = await open();
  const off = await open(0);
  try {
    startQuery(off.conn);
    await sleep(TIMEOUT_MS * 3);
    expect(idle.seen.failure).toBeNull();
    expect(idle.conn.broken).toBe(false);
    expect(off.seen.failure).toBeNull();
    expect(off.conn.broken).toBe(false);
  } finally {
    idle.conn.destroy();
    off.conn.destroy();
    await idle.fake.close();
    await off.fake.close();
  }
});
