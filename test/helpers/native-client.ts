import { connect, Socket } from 'node:net';
import { encodeSimpleQuery } from '../../src/pool';
import { ClientCode, ConnectionState, encodeClientPacket, FramedPacket, Framer, ServerCode, Writer } from '../../src/protocol';

/**
 * A minimal native-protocol client for tests that need to send exact packets (revisions no real
 * client here has, malformed bytes, pauses): the codec's encoders and the server-direction framer.
 */
export class NativeClient {
  readonly state = new ConnectionState();
  private readonly framer = new Framer('server', this.state);
  private packets: FramedPacket[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      try {
        this.packets.push(...this.framer.push(d));
      } catch {
        socket.destroy();
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<NativeClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new NativeClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next framed packet from the server, or null if the connection closed first. */
  async next(timeoutMs = 10_000): Promise<FramedPacket | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.packets.length === 0) {
      if (this.closed) return null;
      if (Date.now() > deadline) throw new Error('timed out waiting for a server packet');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.packets.shift()!;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  hello(revision: number, user = 'default', password = '', database = ''): void {
    this.state.onClientHello(revision);
    const w = new Writer();
    encodeClientPacket(w, { code: ClientCode.Hello, clientName: 'ClickHouse gatehouse-test', versionMajor: 24, versionMinor: 1, revision, database, user, password }, revision);
    this.send(w.toBuffer());
  }

  /** After the server Hello: the addendum when the negotiated revision asks for it. */
  addendumIfNeeded(): void {
    if (!this.state.addendumPending) return;
    const w = new Writer();
    encodeClientPacket(w, { code: -1, quotaKey: '' } as never, this.state.revision);
    this.send(w.toBuffer());
    this.state.addendumPending = false;
  }

  /** A Query (no compression) and the empty Data block that ends its external tables. */
  query(sql: string, settings: { name: string; value: string; flags: number }[] = []): void {
    this.state.compression = false;
    this.send(encodeSimpleQuery(sql, this.state.revision, settings));
  }

  /** Packets until EndOfStream or Exception (inclusive). */
  async untilEnd(timeoutMs = 30_000): Promise<FramedPacket[]> {
    const out: FramedPacket[] = [];
    for (;;) {
      const p = await this.next(timeoutMs);
      if (!p) throw new Error(`connection closed after ${out.length} packets`);
      out.push(p);
      if (p.code === ServerCode.EndOfStream || p.code === ServerCode.Exception) return out;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
