/**
 * ClientSink holds the writes of one tick and hands them to the socket together at its end (one buffer when small),
 * and sends the packet that ends an exchange at once (ClientSink.flush): what the session does after it in the same
 * tick (releasing the backend, counting the query) must not delay the client. Backpressure is reported as
 * socket.write would. Over a real loopback socket pair.
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

function received(): Buffer[] {
  const got: Buffer[] = [];
  clientSide.on('data', (c: Buffer) => got.push(c));
  return got;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

it('holds the writes of one tick and hands them over in order, as one write, when the tick ends', async () => {
  const sink = new ClientSink(proxySide);
  const got = received();
  const writes: unknown[] = [];
  const write = proxySide.write.bind(proxySide);
  proxySide.write = ((chunk: unknown, ...rest: never[]) => {
    writes.push(chunk);
    return write(chunk as Buffer, ...rest);
  }) as typeof proxySide.write;
  sink.write([bytes(10, 1)], { code: ServerCode.Data });
  sink.write([bytes(10, 2), bytes(5, 3)], { code: ServerCode.Progress });
  expect(sink.held).toBe(25);
  expect(writes).toHaveLength(0);
  await new Promise((resolve) => process.nextTick(resolve));
  expect(sink.held).toBe(0);
  expect(writes).toHaveLength(1); // small: coalesced into one buffer
  await settle();
  expect(Buffer.concat(got)).toEqual(Buffer.concat([bytes(10, 1), bytes(10, 2), bytes(5, 3)]));
  expect(sink.bytesOut).toBe(25);
});

it.each([
  ['EndOfStream', ServerCode.EndOfStream],
  ['Exception', ServerCode.Exception],
  ['Pong', ServerCode.Pong],
])('sends at once after %s, with what was held before it, in order', async (_name, code) => {
  const sink = new ClientSink(proxySide);
  const got = received();
  sink.write([bytes(3, 1)], { code: ServerCode.Data });
  sink.write([bytes(2, 9)], { code });
  // Nothing is held for the end of the tick: the bytes are with the socket (and, idle as it is, the kernel).
  expect(sink.held).toBe(0);
  expect(proxySide.writableLength).toBe(0);
  // A write after it in the same tick is held again, and the end of the tick sends it.
  sink.write([bytes(1, 7)]);
  expect(sink.held).toBe(1);
  await settle();
  expect(sink.held).toBe(0);
  expect(Buffer.concat(got)).toEqual(Buffer.from([1, 1, 1, 9, 9, 7]));
});

it('sendError sends its Exception at once; fail() sends it, then ends the socket', async () => {
  const sink = new ClientSink(proxySide);
  const got = received();
  const ended = new Promise((resolve) => clientSide.on('end', resolve));
  sink.write([bytes(4, 1)], { code: ServerCode.Data });
  sink.sendError(new Error('boom'));
  expect(sink.held).toBe(0);
  sink.write([bytes(2, 5)]);
  sink.fail(new Error('bye'));
  await ended;
  const all = Buffer.concat(got);
  expect(all.subarray(0, 4)).toEqual(bytes(4, 1));
  expect(all[4]).toBe(ServerCode.Exception);
  expect(all.includes(Buffer.from('bye'))).toBe(true);
});

it('write() reports a full socket as socket.write would (held bytes count), and onDrain hands them over first', async () => {
  const sink = new ClientSink(proxySide);
  const big = bytes(proxySide.writableHighWaterMark, 4);
  expect(sink.write([bytes(100, 1)])).toBe(true);
  // Held bytes count towards the high-water mark before they reach the socket.
  expect(sink.write([big])).toBe(false);
  let drained = false;
  sink.onDrain(() => (drained = true));
  // onDrain hands the held bytes over first; with a reader on the other side the drain comes.
  expect(sink.held).toBe(0);
  const got = received();
  await settle();
  expect(drained).toBe(true);
  expect(Buffer.concat(got).length).toBe(100 + big.length);
});

it('flush with nothing held does nothing; a destroyed socket drops what is held', () => {
  const sink = new ClientSink(proxySide);
  sink.flush();
  expect(sink.held).toBe(0);
  sink.write([bytes(4, 1)]);
  proxySide.destroy();
  sink.flush();
  expect(sink.held).toBe(0);
  expect(sink.write([bytes(1, 1)])).toBe(true);
  expect(sink.closed).toBe(true);
});
