/**
 * Replay of cached results built from the 18.16 captures: the bytes a client gets are the stored packets (compressed
 * with its method when it asked for compression) and EndOfStream, and a fresh Framer reads them back to the same
 * packets.
 */
import { decodeEntry, encodeEntry, entryPackets, makeEntry, Recorder, replayEntry, type Entry } from '../../../src/cache';
import {
  type ClientCompression,
  CompressionMethod,
  ConnectionState,
  type FramedPacket,
  Framer,
  recordPacket,
  readFrameHeader,
  ServerCode,
  withLimits,
} from '../../../src/protocol';
import { loadCapture } from '../../helpers/captures';
import { randomCuts, replay } from '../protocol/framer/replay';

const REV = 54412; // the captures' negotiated revision
const RESULT_CODES: ReadonlySet<number> = new Set([ServerCode.Data, ServerCode.Totals, ServerCode.Extremes, ServerCode.ProfileInfo]);

/** The entry the cache would store for a capture's result (as read back from Redis: encoded, then decoded). */
function entryOf(name: string): Entry {
  const rec = new Recorder(64 << 20);
  for (const p of replay(loadCapture(name)).s2c) if (RESULT_CODES.has(p.code)) expect(rec.add(recordPacket(p))).toBe(true);
  const e = makeEntry({ createdAt: 1_700_000_000_000, ttlMs: 60_000, tables: [], revision: REV, ...rec.finish()! });
  return decodeEntry(encodeEntry(e));
}

/** What a client's framer reads from the replayed bytes, fed in `cut` pieces. */
function clientReads(parts: Buffer[], compression: boolean, cut = (b: Buffer): Buffer[] => [b]): FramedPacket[] {
  const state = new ConnectionState();
  state.onClientHello(REV);
  state.onServerHello(REV);
  state.compression = compression;
  const framer = new Framer('server', state);
  const out = cut(Buffer.concat(parts)).flatMap((b) => framer.push(b));
  expect(framer.idle).toBe(true);
  return out;
}

const LZ4: ClientCompression = { method: CompressionMethod.LZ4, level: 1 };
const ZSTD: ClientCompression = { method: CompressionMethod.ZSTD, level: 1 };

describe('replayEntry', () => {
  it('without compression sends the uncompressed capture, minus Progress, ending with EndOfStream', () => {
    const e = entryOf('cli_lz4_select_types');
    const S2C = loadCapture('cli_nocomp_select_types').s2c;
    // [30,1248) header Data, Data, ProfileInfo; [1248,1252) Progress; [1252,1265) final Data and EndOfStream.
    const expected = Buffer.concat([S2C.subarray(30, 1248), S2C.subarray(1252)]);
    expect(S2C.length).toBe(1265);
    const parts = replayEntry(e, null);
    expect(Buffer.concat(parts).equals(expected)).toBe(true);
    expect(parts.at(-1)).toEqual(Buffer.of(ServerCode.EndOfStream));
    expect(parts[0]!.buffer).toBe(e.packets.buffer); // sent from the entry, not copied
  });

  it.each([
    ['cli_lz4_select_types', [1, 1, 6, 1, 5]],
    ['cli_lz4_totals_extremes', [1, 1, 7, 8, 6, 1, 5]],
    ['cli_lz4_zstd_method', [1, 1, 6, 1, 5]],
    ['cli_lz4_settings_legacy_binary', [1, 1, 1, 1, 8, 6, 1, 5]],
    ['cli_lz4_logs', [1, 1, 6, 1, 5]], // Log packets are not stored
  ])('%s: a client reads back the same packets with LZ4, ZSTD or none', (name, codes) => {
    const e = entryOf(name);
    const stored = entryPackets(e);
    for (const c of [null, LZ4, ZSTD, { method: CompressionMethod.ZSTD, level: 12 }]) {
      const parts = replayEntry(e, c);
      expect(parts.at(-1)).toEqual(Buffer.of(ServerCode.EndOfStream));
      const read = clientReads(parts, c !== null, randomCuts(5, 13));
      expect(read.map((p) => p.code)).toEqual(codes);
      const packets = read.slice(0, -1);
      expect(packets.map((p) => p.compressed ?? false)).toEqual(stored.map((s) => c !== null && s.blockStart > 0));
      packets.forEach((p, i) => {
        const back = recordPacket(p);
        expect(back.bytes.equals(stored[i]!.bytes)).toBe(true);
        expect(back.blockStart).toBe(stored[i]!.blockStart);
        if (p.compressed) {
          const raw = Buffer.concat(p.chunks);
          expect(readFrameHeader(raw, back.blockStart, raw.length, withLimits())!.method).toBe(c!.method);
        }
      });
    }
  });

  it('replays a block over 1 MiB in several frames', () => {
    const e = entryOf('cli_lz4_large_select');
    const read = clientReads(replayEntry(e, { method: CompressionMethod.ZSTD, level: 3 }), true, randomCuts(9, 100_000));
    expect(read.map((p) => p.code)).toEqual([1, 1, 6, 1, 5]);
    expect(read.map((p) => p.frames)).toEqual([1, 3, undefined, 1, undefined]);
    expect(read[1]!.block!.rows).toBe(150000);
    expect(recordPacket(read[1]!).bytes.equals(entryPackets(e)[1]!.bytes)).toBe(true);
  });

  it('an entry without packets replays as EndOfStream alone, a fresh buffer each time', () => {
    const e = makeEntry({ createdAt: 0, ttlMs: 1, tables: [], revision: REV, packets: Buffer.alloc(0), index: new Uint32Array(0) });
    const a = replayEntry(e, null);
    const b = replayEntry(e, LZ4);
    expect(a).toEqual([Buffer.of(5)]);
    expect(b).toEqual([Buffer.of(5)]);
    expect(a[0]).not.toBe(b[0]);
  });
});
