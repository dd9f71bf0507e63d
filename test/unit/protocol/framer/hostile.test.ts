import fc from 'fast-check';
import { encodeBlock } from '../../../../src/protocol/block';
import { encodeBlockPacket } from '../../../../src/protocol/block-packet';
import { ServerCode } from '../../../../src/protocol/codes';
import { CompressionMethod } from '../../../../src/protocol/compression';
import { isNeedMoreData, LimitError, ProtocolError } from '../../../../src/protocol/errors';
import { ConnectionState, Framer } from '../../../../src/protocol/framer';
import { Writer } from '../../../../src/protocol/io/writer';
import { withLimits } from '../../../../src/protocol/limits';
import { loadCapture } from '../../../helpers/captures';

const REV = 54460;

function serverFramer(compression: boolean, limits = withLimits()): Framer {
  const st = new ConnectionState();
  st.onClientHello(REV);
  st.onServerHello(REV);
  st.addendumPending = false;
  st.compression = compression;
  return new Framer('server', st, limits);
}

/** Feed and report how the framer ended: with packets, waiting, or a typed error. */
function feed(framer: Framer, bytes: Buffer, chunk: number): 'ok' | 'error' {
  try {
    for (let at = 0; at < bytes.length; at += chunk) framer.push(bytes.subarray(at, at + chunk));
    return 'ok';
  } catch (e) {
    if (e instanceof ProtocolError) return 'error';
    if (isNeedMoreData(e)) throw new Error('NEED_MORE_DATA escaped the framer');
    throw e;
  }
}

function dataPacket(rows: number, type: string, values: (i: number) => unknown, method: CompressionMethod | null): Buffer {
  const bw = new Writer(rows * 16 + 64);
  encodeBlock(bw, { columns: [{ name: 'c', type, values: Array.from({ length: rows }, (_, i) => values(i)) }] }, REV);
  const w = new Writer(bw.length + 1024);
  encodeBlockPacket(w, ServerCode.Data, '', bw.view(), method);
  return w.toBuffer();
}

describe('framer on hostile input', () => {
  it('random bytes only ever end in a typed ProtocolError or a wait, in both directions', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), fc.integer({ min: 1, max: 64 }), (bytes, compression, chunk) => {
        expect(['ok', 'error']).toContain(feed(serverFramer(compression), Buffer.from(bytes), chunk));
        const st = new ConnectionState();
        st.onClientHello(REV);
        st.onServerHello(REV);
        st.addendumPending = false;
        st.compression = compression;
        expect(['ok', 'error']).toContain(feed(new Framer('client', st), Buffer.from(bytes), chunk));
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated captures (bytes flipped, inserted, deleted) only end in typed errors', () => {
    const cap = loadCapture('cli_lz4_select_types');
    const base = cap.s2c.subarray(29); // after the server Hello
    fc.assert(
      fc.property(fc.integer({ min: 0, max: base.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete'), (at, byte, op) => {
        let mutated: Buffer;
        if (op === 'flip') {
          mutated = Buffer.from(base);
          mutated[at] ^= byte || 1;
        } else if (op === 'insert') mutated = Buffer.concat([base.subarray(0, at), Buffer.from([byte]), base.subarray(at)]);
        else mutated = Buffer.concat([base.subarray(0, at), base.subarray(at + 1)]);
        const st = new ConnectionState();
        st.onClientHello(54412);
        st.onServerHello(54412);
        st.compression = true;
        expect(['ok', 'error']).toContain(feed(new Framer('server', st), mutated, 97));
      }),
      { numRuns: 2000 },
    );
  });

  it('a protocol error is sticky: the stream cannot be resumed after it', () => {
    const framer = serverFramer(false);
    expect(() => framer.push(Buffer.from([0x63]))).toThrow(ProtocolError); // unknown packet code 99
    expect(() => framer.push(Buffer.from([ServerCode.Pong]))).toThrow(ProtocolError);
  });

  it('a block larger than maxBlockBytes is refused before it is buffered whole', () => {
    const bytes = dataPacket(200_000, 'UInt64', (i) => BigInt(i), null);
    const framer = serverFramer(false, withLimits({ maxBlockBytes: 1 << 20 }));
    let thrown: unknown;
    let fed = 0;
    try {
      for (; fed < bytes.length; fed += 65536) framer.push(bytes.subarray(fed, fed + 65536));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(LimitError);
    expect(fed).toBeLessThanOrEqual((1 << 20) + 65536);
  });

  it('a compressed block larger than maxBlockBytes is refused', () => {
    const bytes = dataPacket(300_000, 'UInt64', (i) => BigInt(i), CompressionMethod.LZ4);
    const framer = serverFramer(true, withLimits({ maxBlockBytes: 1 << 20 }));
    expect(() => framer.push(bytes)).toThrow(LimitError);
  });
});

describe('framer work stays linear in the input', () => {
  it.each([
    ['String', (i: number) => `value-${i % 1000}`],
    ['UInt64', (i: number) => BigInt(i)],
    ['Array(String)', (i: number) => [`a${i}`, 'b']],
  ])('a ~20 MB %s block in 64 KiB chunks is not copied, and the sizer is resumed once per chunk', (type, values) => {
    const bytes = dataPacket(1_000_000, type, values as (i: number) => unknown, null);
    expect(bytes.length).toBeGreaterThan(8_000_000);
    const framer = serverFramer(false);
    const packets = [];
    for (let at = 0; at < bytes.length; at += 65536) packets.push(...framer.push(bytes.subarray(at, at + 65536)));
    expect(packets).toHaveLength(1);
    expect(packets[0].block!.rows).toBe(1_000_000);
    // Only the few bytes of a value cut by a chunk boundary are copied.
    expect(framer.stats.copiedBytes).toBeLessThan(bytes.length * 0.01);
  });

  it('a ~20 MB LZ4 block arriving in 64 KiB chunks copies each frame at most once', () => {
    const bytes = dataPacket(1_000_000, 'String', (i) => `value-${i}`, CompressionMethod.LZ4);
    const blockBytes = dataPacket(1_000_000, 'String', (i) => `value-${i}`, null).length;
    const framer = serverFramer(true);
    const packets = [];
    for (let at = 0; at < bytes.length; at += 65536) packets.push(...framer.push(bytes.subarray(at, at + 65536)));
    expect(packets).toHaveLength(1);
    expect(packets[0].frames).toBeGreaterThan(5);
    // Each compressed frame is joined once from its chunks, each decompressed byte at most once
    // to the unconsumed tail of the previous frame.
    expect(framer.stats.copiedBytes).toBeLessThan(bytes.length * 1.1 + blockBytes);
  });

  it('a 20 MB query text in 64 KiB chunks is parsed a bounded number of times', () => {
    const st = new ConnectionState();
    st.onClientHello(54412);
    st.onServerHello(54412);
    const framer = new Framer('client', st);
    const text = `INSERT INTO t VALUES ${'(1),'.repeat(5_000_000)}(1)`;
    const w = new Writer(text.length + 100);
    // Query at 54412: id, ClientInfo kind 0 (nothing else), no settings, stage, compression, text.
    w.varUInt(1).string('').u8(0).string('').varUInt(2).varUInt(0).string(text);
    const bytes = w.toBuffer();
    const packets = [];
    for (let at = 0; at < bytes.length; at += 65536) packets.push(...framer.push(bytes.subarray(at, at + 65536)));
    expect(packets).toHaveLength(1);
    expect(framer.stats.attempts).toBeLessThan(5);
    expect(framer.stats.copiedBytes).toBeLessThan(bytes.length * 1.1);
  });
});
