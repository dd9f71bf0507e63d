/**
 * Recorded packets against the 18.16 captures: compressed result packets recorded to their uncompressed form (equal
 * to the uncompressed capture of the same query, and decoding to the values of decoded.txt), then re-encoded for a
 * client with each method and framed back by a fresh Framer.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import {
  ChecksumError,
  ClientCode,
  clientCompression,
  type ClientCompression,
  type ClientQuery,
  CompressionError,
  CompressionMethod,
  ConnectionState,
  decodeBlock,
  encodeForClient,
  type FramedPacket,
  Framer,
  LimitError,
  MalformedError,
  Reader,
  recordPacket,
  type RecordedPacket,
  readFrameHeader,
  ServerCode,
  withLimits,
} from '../../../src/protocol';
import { CAPTURES_DIR, type Capture, listCaptures, loadCapture } from '../../helpers/captures';
import { randomCuts, replay } from './framer/replay';
import { parsePyLiteralAt, type PyValue } from './packets/py-literal';

const REV = 54412; // every capture's negotiated revision
const MiB = 1 << 20;
const RESULT_CODES: ReadonlySet<number> = new Set([ServerCode.Data, ServerCode.Totals, ServerCode.Extremes, ServerCode.ProfileInfo]);
const BLOCK_CODES: ReadonlySet<number> = new Set([ServerCode.Data, ServerCode.Totals, ServerCode.Extremes]);

/** Every server packet of a capture, framed as the proxy frames it (compression from the captured Query). */
const serverPackets = (cap: Capture): FramedPacket[] => replay(cap).s2c;
/** The packets the cache keeps: Data, Totals, Extremes, ProfileInfo. */
const resultPackets = (cap: Capture): FramedPacket[] => serverPackets(cap).filter((p) => RESULT_CODES.has(p.code));

/** Frames a server byte stream after the handshake, fed in `parts`, with the Query's compression flag. */
function frameServer(parts: Buffer[], compression: boolean): FramedPacket[] {
  const state = new ConnectionState();
  state.onClientHello(REV);
  state.onServerHello(REV);
  state.compression = compression;
  const framer = new Framer('server', state);
  const out = parts.flatMap((b) => framer.push(b));
  expect(framer.idle).toBe(true);
  return out;
}

/** Columns whose values decoded.txt prints as plain Python ints or bytes (other types in the decoder's own terms). */
const SIMPLE_TYPE = /^(U?Int(8|16|32|64)|String)$/;

/** The value lists of simple columns of each block packet in a decoded.txt, by s2c offset: "name type = [values]". */
function decodedValues(cap: Capture): Map<number, Map<string, PyValue[]>> {
  const text = readFileSync(join(CAPTURES_DIR, cap.name, `${cap.conn}.decoded.txt`), 'utf8');
  const out = new Map<number, Map<string, PyValue[]>>();
  let current: Map<string, PyValue[]> | null = null;
  for (const line of text.split('\n')) {
    const m = /^(c2s|s2c) @(\d+) /.exec(line);
    if (m) {
      current = m[1] === 's2c' ? new Map() : null;
      if (current) out.set(Number(m[2]), current);
    } else if (current && /^\s{4,}\S/.test(line)) {
      const eq = line.indexOf(' = [');
      if (eq < 0) continue;
      const head = line.slice(0, eq).trim().replace(/ prefix=\[.*\]$/, ''); // "name type", as captures.ts reads it
      if (!SIMPLE_TYPE.test(head.slice(head.lastIndexOf(' ') + 1))) continue;
      current.set(head, parsePyLiteralAt(line, eq + 3)[0] as PyValue[]);
    }
  }
  return out;
}

/** A value of a simple column, as text: decoded.txt has Python ints and bytes, decodeBlock numbers, bigints and strings. */
function comparable(v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

function expectBlockMatchesDecodedTxt(rec: RecordedPacket, cap: Capture, offset: number): void {
  const r = new Reader(rec.bytes, rec.blockStart);
  const block = decodeBlock(r, REV);
  expect(r.pos).toBe(rec.bytes.length); // the block ends exactly with the recorded bytes
  const exp = cap.expected.find((e) => e.dir === 's2c' && e.offset === offset)!;
  expect(block.rows).toBe(exp.rows);
  expect(block.columns.map((c) => `${c.name} ${c.type}`)).toEqual(exp.columns);
  const values = decodedValues(cap).get(offset)!;
  let compared = 0;
  for (const c of block.columns) {
    if (!SIMPLE_TYPE.test(c.type)) continue;
    const listed = values.get(`${c.name} ${c.type}`)!;
    // decoded.txt lists the first values of big blocks only.
    expect(c.values.slice(0, listed.length).map(comparable)).toEqual(listed.map(comparable));
    compared += listed.length;
  }
  if (block.rows > 0 && block.columns.some((c) => SIMPLE_TYPE.test(c.type))) expect(compared).toBeGreaterThan(0);
}

const compressedCaptures = listCaptures().filter((c) => c.name.startsWith('cli_lz4_'));

describe('recordPacket', () => {
  it('records the compressed select_types result as exactly the bytes of its uncompressed capture', () => {
    const lz4 = resultPackets(loadCapture('cli_lz4_select_types'));
    const plain = resultPackets(loadCapture('cli_nocomp_select_types'));
    expect(lz4.map((p) => p.code)).toEqual([1, 1, 6, 1]);
    expect(lz4.filter((p) => p.compressed).length).toBe(3);
    const S2C = loadCapture('cli_nocomp_select_types').s2c;
    // [30,403) header Data, [403,1240) Data, [1240,1248) ProfileInfo, [1252,1264) final Data (decoded.txt).
    const expected = [S2C.subarray(30, 403), S2C.subarray(403, 1240), S2C.subarray(1240, 1248), S2C.subarray(1252, 1264)];
    lz4.forEach((p, i) => {
      const rec = recordPacket(p);
      const twin = recordPacket(plain[i]!);
      expect(rec.bytes.equals(expected[i]!)).toBe(true);
      expect(twin.bytes.equals(expected[i]!)).toBe(true);
      expect(rec.blockStart).toBe(p.code === ServerCode.ProfileInfo ? 0 : 2);
      expect(twin.blockStart).toBe(rec.blockStart);
    });
  });

  it('keeps a single-chunk uncompressed packet as is, and concatenates several chunks', () => {
    const cap = loadCapture('cli_nocomp_select_types');
    const whole = frameServer([cap.s2c.subarray(30, 1248)], false);
    expect(whole[1]!.chunks.length).toBe(1);
    expect(recordPacket(whole[1]!).bytes).toBe(whole[1]!.chunks[0]);
    const pieces = frameServer(randomCuts(7, 50)(cap.s2c.subarray(30, 1248)), false);
    expect(pieces[1]!.chunks.length).toBeGreaterThan(1);
    expect(recordPacket(pieces[1]!).bytes.equals(whole[1]!.chunks[0]!)).toBe(true);
  });

  describe.each(compressedCaptures.map((c) => [`${c.name}/${c.conn}`, c] as [string, Capture]))('capture %s', (_label, cap) => {
    const packets = serverPackets(cap);

    it('records compressed blocks as their uncompressed block, with the rows of decoded.txt', () => {
      for (const p of packets) {
        const rec = recordPacket(p);
        if (p.compressed) {
          expect(BLOCK_CODES.has(p.code)).toBe(true);
          expect(rec.blockStart).toBe(2); // code byte + empty table name
          expect(rec.bytes.subarray(0, 2).equals(Buffer.concat(p.chunks).subarray(0, 2))).toBe(true);
          expectBlockMatchesDecodedTxt(rec, cap, p.start);
        } else {
          // Log blocks (uncompressed even with compression on) and non-block packets are kept byte for byte.
          expect(rec.bytes.equals(Buffer.concat(p.chunks))).toBe(true);
          expect(rec.blockStart).toBe(0);
        }
      }
    });

    it('re-encodes every result packet for LZ4, ZSTD, NONE and no compression, and frames back to the same packet', () => {
      const methods: (ClientCompression | null)[] = [
        null,
        { method: CompressionMethod.LZ4, level: 1 },
        { method: CompressionMethod.ZSTD, level: 1 },
        { method: CompressionMethod.ZSTD, level: 7 },
        { method: CompressionMethod.None },
      ];
      for (const p of packets.filter((x) => RESULT_CODES.has(x.code))) {
        const rec = recordPacket(p);
        for (const c of methods) {
          const parts = encodeForClient(rec, c);
          const back = frameServer(parts, c !== null);
          expect(back.length).toBe(1);
          expect(back[0]!.code).toBe(p.code);
          expect(back[0]!.block).toEqual(p.block);
          const again = recordPacket(back[0]!);
          expect(again.bytes.equals(rec.bytes)).toBe(true); // Buffer.equals: jest's toEqual walks big buffers byte by byte
          expect(again.blockStart).toBe(rec.blockStart);
          if (c === null || rec.blockStart === 0) {
            expect(parts.length === 1 && parts[0] === rec.bytes).toBe(true);
            continue;
          }
          // Header as a view of the recorded bytes, then frames of at most 1 MiB of block bytes, all with the method.
          expect(parts[0]!.buffer).toBe(rec.bytes.buffer);
          expect(parts[0]!.length).toBe(rec.blockStart);
          const blockBytes = rec.bytes.length - rec.blockStart;
          expect(back[0]!.frames).toBe(Math.ceil(blockBytes / MiB));
          const sizes = parts.slice(1).map((f) => readFrameHeader(f, 0, f.length, withLimits())!);
          expect(sizes.map((h) => h.method)).toEqual(sizes.map(() => c.method));
          expect(sizes.map((h) => h.decompressedBytes)).toEqual(
            Array.from({ length: sizes.length }, (_, i) => Math.min(MiB, blockBytes - i * MiB)),
          );
        }
      }
    });
  });

  it('splits a block over 1 MiB into several frames (cli_lz4_large_select: 2 138 925 block bytes)', () => {
    const big = resultPackets(loadCapture('cli_lz4_large_select')).find((p) => p.block?.rows === 150000)!;
    expect(big.frames).toBe(3);
    const rec = recordPacket(big);
    expect(rec.bytes.length - rec.blockStart).toBe(2 * MiB + 41773);
    for (const method of [CompressionMethod.LZ4, CompressionMethod.ZSTD]) {
      const parts = encodeForClient(rec, { method, level: 3 });
      expect(parts.length).toBe(4);
      // Fed in small pieces, as a socket would deliver them.
      const back = frameServer(randomCuts(3, 64 * 1024)(Buffer.concat(parts)), true);
      expect(back.length).toBe(1);
      expect(back[0]!.frames).toBe(3);
      expect(recordPacket(back[0]!).bytes.equals(rec.bytes)).toBe(true);
    }
  });

  it('gives the empty final block one frame, as the server does', () => {
    const cap = loadCapture('cli_lz4_select1');
    const last = resultPackets(cap).at(-1)!;
    const rec = recordPacket(last);
    expect(rec.bytes.length - rec.blockStart).toBe(10); // BlockInfo (8 bytes) + 0 columns + 0 rows
    const parts = encodeForClient(rec, { method: CompressionMethod.LZ4, level: 1 });
    expect(parts.length).toBe(2);
    expect(readFrameHeader(parts[1]!, 0, parts[1]!.length, withLimits())!.decompressedBytes).toBe(10);
  });

  it('verifies frame checksums even when the framer did not', () => {
    const cap = loadCapture('cli_lz4_select_types');
    const s2c = Buffer.from(cap.s2c);
    s2c[387] ^= 0xff; // first checksum byte of the result block's frame (decoded.txt: frame at 387)
    const corrupt: Capture = { ...cap, s2c };
    expect(() => replay(corrupt)).toThrow(ChecksumError);
    const state = new ConnectionState();
    state.onClientHello(REV);
    state.onServerHello(REV);
    state.compression = true;
    const lax = new Framer('server', state, withLimits(), { verifyChecksums: false });
    const packets = lax.push(s2c.subarray(30, 1091));
    expect(packets.map((p) => p.start + 30)).toEqual([30, 385, 1041, 1049, 1053]);
    expect(() => recordPacket(packets[1]!)).toThrow(ChecksumError);
    expect(recordPacket(packets[0]!).blockStart).toBe(2);
  });

  it('throws typed errors on bad packets', () => {
    const p = resultPackets(loadCapture('cli_lz4_select_types'))[1]!; // Data: 01 00, one LZ4 frame of 835 bytes
    const raw = Buffer.concat(p.chunks);
    const withBytes = (bytes: Buffer, over: Partial<FramedPacket> = {}): FramedPacket => ({ ...p, chunks: [bytes], ...over });
    expect(() => recordPacket(withBytes(raw.subarray(0, raw.length - 1)))).toThrow(MalformedError); // frame cut short
    expect(() => recordPacket(withBytes(raw.subarray(0, 20)))).toThrow(MalformedError); // frame header cut short
    expect(() => recordPacket(withBytes(raw.subarray(0, 2)))).toThrow(MalformedError); // no frame at all
    expect(() => recordPacket(withBytes(raw.subarray(0, 1)))).toThrow(MalformedError); // no table name
    expect(() => recordPacket(withBytes(Buffer.alloc(0)))).toThrow(MalformedError);
    expect(() => recordPacket(withBytes(raw, { code: ServerCode.Totals }))).toThrow(MalformedError); // code mismatch
    expect(() => recordPacket(withBytes(raw, { code: ServerCode.ProfileInfo }))).toThrow(MalformedError); // frames on a non-block packet
    const method = Buffer.from(raw);
    method[2 + 16] = 0x42;
    expect(() => recordPacket(withBytes(method))).toThrow(CompressionError);
    expect(() => recordPacket(p, withLimits({ maxBlockBytes: 834 }))).toThrow(LimitError);
    expect(() => recordPacket(p, withLimits({ maxDecompressedFrameBytes: 834 }))).toThrow(LimitError);
    expect(() => recordPacket(p, withLimits({ maxCompressedFrameBytes: 100 }))).toThrow(LimitError);
    expect(recordPacket(p, withLimits({ maxBlockBytes: 835 })).bytes.length).toBe(837);
    const plain = resultPackets(loadCapture('cli_nocomp_select_types'))[1]!;
    expect(() => recordPacket({ ...plain, chunks: [Buffer.concat(plain.chunks).subarray(0, 2)] })).toThrow(MalformedError);
  });
});

describe('encodeForClient', () => {
  const rec = recordPacket(resultPackets(loadCapture('cli_nocomp_select_types'))[1]!);

  it('sends the recorded bytes themselves without compression, and for packets without a block', () => {
    expect(encodeForClient(rec, null)[0]).toBe(rec.bytes);
    const profile: RecordedPacket = { bytes: Buffer.from('0603010101030101', 'hex'), blockStart: 0 };
    expect(encodeForClient(profile, { method: CompressionMethod.LZ4 })[0]).toBe(profile.bytes);
  });

  it('refuses an empty block and a block offset on a packet that has no compressible block', () => {
    const lz4 = { method: CompressionMethod.LZ4 };
    expect(() => encodeForClient({ bytes: Buffer.of(1, 0), blockStart: 2 }, lz4)).toThrow(MalformedError);
    expect(() => encodeForClient({ bytes: Buffer.of(10, 0, 0, 0, 0), blockStart: 2 }, lz4)).toThrow(MalformedError); // Log
    expect(encodeForClient({ bytes: Buffer.of(10, 0, 0, 0, 0), blockStart: 2 }, null)).toHaveLength(1);
  });
});

describe('clientCompression', () => {
  const q = (compression: boolean, settings: [string, string][] = []) => ({
    compression,
    settings: settings.map(([name, value]) => ({ name, value, flags: 0 })),
  });

  it('follows the compression flag and the two settings, defaults LZ4 level 1', () => {
    expect(clientCompression(q(false, [['network_compression_method', 'zstd']]))).toBeNull();
    expect(clientCompression(q(true))).toEqual({ method: CompressionMethod.LZ4, level: 1 });
    expect(clientCompression(q(true, [['network_compression_method', 'ZSTD']]))).toEqual({ method: CompressionMethod.ZSTD, level: 1 });
    expect(clientCompression(q(true, [['network_compression_method', 'zstd'], ['network_zstd_compression_level', '9']]))).toEqual({
      method: CompressionMethod.ZSTD,
      level: 9,
    });
    expect(clientCompression(q(true, [['network_compression_method', 'LZ4HC']]))!.method).toBe(CompressionMethod.LZ4);
    expect(clientCompression(q(true, [['network_compression_method', 'none']]))!.method).toBe(CompressionMethod.None);
    expect(clientCompression(q(true, [['network_zstd_compression_level', '-5']]))).toEqual({ method: CompressionMethod.LZ4, level: -5 });
    // Settings apply in order: the last one wins.
    const twice = q(true, [['network_compression_method', 'zstd'], ['max_threads', '2'], ['network_compression_method', 'lz4']]);
    expect(clientCompression(twice)!.method).toBe(CompressionMethod.LZ4);
    // zstd's own range.
    expect(clientCompression(q(true, [['network_zstd_compression_level', '100']]))!.level).toBe(22);
    expect(clientCompression(q(true, [['network_zstd_compression_level', '-9999999']]))!.level).toBe(-131072);
  });

  it('throws CompressionError for what it cannot serve', () => {
    expect(() => clientCompression(q(true, [['network_compression_method', 'deflate_qpl']]))).toThrow(CompressionError);
    expect(() => clientCompression(q(true, [['network_zstd_compression_level', 'high']]))).toThrow(CompressionError);
    expect(() => clientCompression(q(true, [['network_zstd_compression_level', '1.5']]))).toThrow(CompressionError);
  });

  it.each([
    ['cli_lz4_select1', { method: CompressionMethod.LZ4, level: 1 }],
    ['cli_lz4_zstd_method', { method: CompressionMethod.ZSTD, level: 1 }],
    ['cli_nocomp_select_types', null],
    ['py_ping_select', null],
  ])('reads the captured Query of %s', (name, expected) => {
    const query = replay(loadCapture(name)).c2s.find((p) => p.code === ClientCode.Query)!.packet as ClientQuery;
    expect(clientCompression(query)).toEqual(expected);
  });

  it('matches the method the server used for the captured result frames', () => {
    for (const name of ['cli_lz4_select1', 'cli_lz4_zstd_method']) {
      const r = replay(loadCapture(name));
      const c = clientCompression(r.c2s.find((p) => p.code === ClientCode.Query)!.packet as ClientQuery)!;
      const data = r.s2c.find((p) => p.compressed)!;
      const raw = Buffer.concat(data.chunks);
      expect(readFrameHeader(raw, 2, raw.length, withLimits())!.method).toBe(c.method);
    }
  });
});
