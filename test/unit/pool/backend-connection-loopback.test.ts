/**
 * BackendConnection paths an 18.16 server cannot exercise (it negotiates 54412): the addendum sent
 * after a server Hello at >= 54458, and Progress before Pong. A loopback fake speaks the server side
 * with the codec's own encoders.
 */
import * as net from 'node:net';
import { BackendConnection, BackendProtocolError } from '../../../src/pool';
import { ServerCode, Writer, encodeServerPacket, type ServerPacket } from '../../../src/protocol';

interface Fake {
  port: number;
  /** Bytes received from the proxy on the first connection. */
  received: () => Buffer;
  send: (p: ServerPacket, rev: number) => void;
  close: () => Promise<void>;
}

async function fakeServer(): Promise<Fake> {
  let sock: net.Socket | null = null;
  const chunks: Buffer[] = [];
  const server = net.createServer((s) => {
    sock = s;
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => Buffer.concat(chunks),
    send: (p, rev) => {
      const w = new Writer();
      encodeServerPacket(w, p, rev);
      sock!.write(w.toBuffer());
    },
    close: () =>
      new Promise<void>((r) => {
        sock?.destroy();
        server.close(() => r());
      }),
  };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

const HELLO_54460: ServerPacket = {
  code: ServerCode.Hello,
  serverName: 'ClickHouse',
  versionMajor: 23,
  versionMinor: 8,
  revision: 54460,
  timezone: 'Europe/Paris',
  displayName: 'fake',
  versionPatch: 4,
};

test('negotiated >= 54458: the addendum (empty quota key) follows the server Hello; Progress before Pong is tolerated', async () => {
  const fake = await fakeServer();
  try {
    const connecting = BackendConnection.connect({
      target: { name: 'writer', host: '127.0.0.1', port: fake.port },
      identity: { user: 'u', password: 'p' },
      database: 'db',
      revision: 54460,
      connectTimeoutMs: 2_000,
    });
    await until(() => fake.received().length > 0);
    const hello = fake.received();
    expect(hello[0]).toBe(0); // Hello
    fake.send(HELLO_54460, 54460);
    const conn = await connecting;
    expect(conn.revision).toBe(54460);
    expect(conn.serverInfo).toEqual({
      serverName: 'ClickHouse',
      versionMajor: 23,
      versionMinor: 8,
      versionPatch: 4,
      revision: 54460,
      timezone: 'Europe/Paris',
      displayName: 'fake',
    });
    expect(conn.state.handshakeDone).toBe(true);
    await until(() => fake.received().length > hello.length);
    expect(fake.received().subarray(hello.length)).toEqual(Buffer.of(0x00)); // quota key ''

    const pinging = conn.ping(1_000);
    await until(() => fake.received().length > hello.length + 1);
    expect(fake.received()[hello.length + 1]).toBe(4); // Ping
    fake.send({ code: ServerCode.Progress, readRows: 1, readBytes: 1, totalRowsToRead: 0, totalBytesToRead: 0, writtenRows: 0, writtenBytes: 0, elapsedNs: 0 }, 54460);
    fake.send({ code: ServerCode.Pong }, 54460);
    await pinging;
    expect(conn.broken).toBe(false);
    conn.destroy();
  } finally {
    await fake.close();
  }
});

test('below 54458 no addendum is sent; a ping that gets no Pong times out and breaks the connection', async () => {
  const fake = await fakeServer();
  try {
    const connecting = BackendConnection.connect({
      target: { name: 'writer', host: '127.0.0.1', port: fake.port },
      identity: { user: 'u', password: 'p' },
      database: '',
      revision: 54412,
      connectTimeoutMs: 2_000,
    });
    await until(() => fake.received().length > 0);
    const hello = fake.received();
    fake.send(HELLO_54460, 54412);
    const conn = await connecting;
    expect(conn.revision).toBe(54412);
    await expect(conn.ping(100)).rejects.toMatchObject({ chCode: 210 });
    expect(conn.broken).toBe(true);
    expect(fake.received().subarray(hello.length)).toEqual(Buffer.of(4)); // only the Ping
  } finally {
    await fake.close();
  }
});

test('a packet other than Pong while pinging is a protocol error', async () => {
  const fake = await fakeServer();
  try {
    const connecting = BackendConnection.connect({
      target: { name: 'writer', host: '127.0.0.1', port: fake.port },
      identity: { user: 'u', password: 'p' },
      database: '',
      revision: 54412,
      connectTimeoutMs: 2_000,
    });
    await until(() => fake.received().length > 0);
    fake.send(HELLO_54460, 54412);
    const conn = await connecting;
    const pinging = conn.ping(1_000);
    fake.send({ code: ServerCode.EndOfStream }, 54412);
    await expect(pinging).rejects.toBeInstanceOf(BackendProtocolError);
    expect(conn.broken).toBe(true);
  } finally {
    await fake.close();
  }
});
