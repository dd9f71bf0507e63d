import fc from 'fast-check';
import { encodeBlock, parseType, typeToString } from '../../../../src/protocol/block';
import { encodeBlockPacket } from '../../../../src/protocol/block-packet';
import { ServerCode, ClientCode } from '../../../../src/protocol/codes';
import { CompressionMethod } from '../../../../src/protocol/compression';
import { ConnectionState, Framer, FramedPacket } from '../../../../src/protocol/framer';
import { Writer } from '../../../../src/protocol/io/writer';
import { encodeServerPacket, encodeClientPacket, ServerPacket, ClientPacket } from '../../../../src/protocol/packets';
import { GATES_UP_TO_MAX, PROXY_MAX_REVISION } from '../../../../src/protocol/revision';
import { typeArb, valueArb } from '../block/arbitraries';
import { clientPackets, serverPackets } from '../packets/arbitraries';

/** Revisions just below and at every gate the codec implements. */
const REVISIONS = [...new Set(GATES_UP_TO_MAX.flatMap((g) => [g - 1, g]))].filter((r) => r >= 54406 && r <= PROXY_MAX_REVISION);

const SERVER_BLOCK = new Set<number>([ServerCode.Data, ServerCode.Totals, ServerCode.Extremes, ServerCode.Log, ServerCode.ProfileEvents]);
const CLIENT_BLOCK = new Set<number>([ClientCode.Data, ClientCode.Scalar]);

/** A random block: 1-3 columns of random types (depth <= 2), 0-4 rows. */
const blockArb = fc
  .tuple(fc.array(typeArb(2), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 4 }))
  .chain(([types, rows]) =>
    fc.tuple(...types.map((t) => fc.array(valueArb(t), { minLength: rows, maxLength: rows }))).map((cols) => ({
      rows,
      columns: types.map((t, i) => ({ name: `c${i}`, type: typeToString(t), values: cols[i] })),
    })),
  );

interface Item {
  packet: ServerPacket | ClientPacket;
  block?: { rows: number; columns: { name: string; type: string; values: unknown[] }[] };
}

function encodeStream(items: Item[], direction: 'client' | 'server', rev: number, method: CompressionMethod | null): Buffer {
  const w = new Writer();
  const blockCodes = direction === 'server' ? SERVER_BLOCK : CLIENT_BLOCK;
  for (const it of items) {
    if (blockCodes.has(it.packet.code)) {
      const bw = new Writer();
      encodeBlock(bw, it.block!, rev);
      // Log/ProfileEvents are never compressed below 54481.
      const m = direction === 'server' && (it.packet.code === ServerCode.Log || it.packet.code === ServerCode.ProfileEvents) ? null : method;
      // Tiny frames so that blocks span several frames.
      encodeBlockPacket(w, it.packet.code, (it.packet as { tableName: string }).tableName, bw.view(), m, 37);
    } else if (direction === 'server') encodeServerPacket(w, it.packet as ServerPacket, rev);
    else encodeClientPacket(w, it.packet as ClientPacket, rev);
  }
  return w.toBuffer();
}

function frame(bytes: Buffer, direction: 'client' | 'server', rev: number, compression: boolean, cuts: number[]): FramedPacket[] {
  const state = new ConnectionState();
  state.onClientHello(rev);
  state.onServerHello(rev);
  state.addendumPending = false;
  state.compression = compression;
  const framer = new Framer(direction, state);
  const out: FramedPacket[] = [];
  let at = 0;
  for (const n of cuts) {
    if (at >= bytes.length) break;
    out.push(...framer.push(bytes.subarray(at, at + n)));
    at += n;
  }
  if (at < bytes.length) out.push(...framer.push(bytes.subarray(at)));
  expect(framer.idle).toBe(true);
  return out;
}

const methodArb = fc.constantFrom<CompressionMethod | null>(null, CompressionMethod.LZ4, CompressionMethod.ZSTD, CompressionMethod.None);
const cutsArb = fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 200 });

describe.each(process.env.REVS ? process.env.REVS.split(",").map(Number) : REVISIONS)('synthetic streams at revision %i', (rev) => {
  // Hello and Query change the shared state; they are covered by the capture replays.
  // Drop whole arbitraries (a filter that never passes would loop forever); each yields one code.
  const codeOf = (a: fc.Arbitrary<{ code: number }>) => fc.sample(a, { numRuns: 1, seed: 1 })[0].code;
  const serverItem: fc.Arbitrary<Item> = fc.oneof(
    ...serverPackets(rev).filter((a) => codeOf(a) !== ServerCode.Hello),
  ).chain((packet): fc.Arbitrary<Item> => (SERVER_BLOCK.has(packet.code) ? blockArb.map((block) => ({ packet, block })) : fc.constant({ packet })));
  const clientItem = fc.oneof(
    ...clientPackets(rev).filter((a) => ![ClientCode.Hello, ClientCode.Query].includes(codeOf(a) as 0 | 1)),
  ).chain((packet): fc.Arbitrary<Item> => (CLIENT_BLOCK.has(packet.code) ? blockArb.map((block) => ({ packet, block })) : fc.constant({ packet })));

  it.each(['server', 'client'] as const)('%s packets are framed back with their bytes, whatever the chunking and compression', (direction) => {
    fc.assert(
      fc.property(fc.array(direction === 'server' ? serverItem : clientItem, { minLength: 1, maxLength: 8 }), methodArb, cutsArb, (items, method, cuts) => {
        const bytes = encodeStream(items, direction, rev, method);
        const packets = frame(bytes, direction, rev, method !== null, cuts);
        expect(packets.map((p) => p.code)).toEqual(items.map((i) => i.packet.code));
        let at = 0;
        packets.forEach((p, i) => {
          expect(p.start).toBe(at);
          expect(Buffer.concat(p.chunks).equals(bytes.subarray(p.start, p.end))).toBe(true);
          at = p.end;
          const block = items[i].block;
          if (block) {
            expect(p.block!.rows).toBe(block.rows);
            expect(p.block!.columns.map((c) => parseType(c.type))).toEqual(block.columns.map((c) => parseType(c.type)));
          }
        });
        expect(at).toBe(bytes.length);
      }),
      { numRuns: 25 },
    );
  });
});
