/**
 * ClientSink corks the writes of one tick into one segment, and sends the packet that ends an exchange at once
 * (ClientSink.flush): what the session does after it in the same tick (releasing the backend, counting the query)
 * must not delay the client. Over a real loopback socket pair; `writableCorked` is the socket's own cork count.
 */
import * as net from 'node:net';
import { ClientSink } from '../../../src/frontend/client-sink';
import { ServerCode } from '../../../src/protocol';

let server: net.Server;
let proxySide: net.Socket;
let clientSide: net.Socket;

beforeEach(async () => {
  server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  clientSide = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  proxySide = await accepted;
});

afterEach(async () => {
  clientSide.destroy();
  proxySide.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

it('corks the writes of one tick and sends them when the tick ends', async () => {
  const sink = new ClientSink(proxySide);
  sink.write([bytes(10, 1)], { code: ServerCode.Data });
  sink.write([bytes(10, 2)], { code: ServerCode.Progress });
  expect(proxySide.writableCorked).toBe(1);
  await new Promise((resolve) => process.nextTick(resolve));
  expect(proxySide.writableCorked).toBe(0);
  expect(sink.bytesOut).toBe(20);
});

it.each([
  ['EndOfStream', ServerCode.EndOfStream],
  ['Exception', ServerCode.Exception],
  ['Pong', ServerCode.Pong],
])('sends at once after %s, with what was corked before it, in order', async (_name, code) => {
  const sink = new ClientSink(proxySide);
  const received: Buffer[] = [];
  clientSide.on('data', (c: Buffer) => received.push(c));
  sink.write([bytes(3, 1)], { code: ServerCode.Data });
  sink.write([bytes(2, 9)], { code });
  // Nothing is left corked for the end of the tick: the bytes are with the kernel already.
  expect(proxySide.writableCorked).toBe(0);
  expect(proxySide.writableLength).toBe(0);
  // A write after it in the same tick corks again, and the end of the tick sends it.
  sink.write([bytes(1, 7)]);
  expect(proxySide.writableCorked).toBe(1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(proxySide.writableCorked).toBe(0);
  expect(Buffer.concat(received)).toEqual(Buffer.from([1, 1, 1, 9, 9, 7]));
});

it('sendError sends its Exception at once', () => {
  const sink = new ClientSink(proxySide);
  sink.write([bytes(4, 1)], { code: ServerCode.Data });
  sink.sendError(new Error('boom'));
  expect(proxySide.writableCorked).toBe(0);
});

it('a write without a packet (bytes the proxy made mid-exchange) stays corked until the tick ends', () => {
  const sink = new ClientSink(proxySide);
  sink.write([bytes(4, 1)]);
  expect(proxySide.writableCorked).toBe(1);
  sink.flush();
  expect(proxySide.writableCorked).toBe(0);
  // flush with nothing corked does nothing
  sink.flush();
  expect(proxySide.writableCorked).toBe(0);
});
