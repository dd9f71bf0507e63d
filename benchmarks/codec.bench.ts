/**
 * Codec throughput, issue 2's benchmark. Run: npm run bench:codec
 * Prints MB/s (median of 7 runs, min and max) for framing whole server result streams fed in 64 KiB
 * chunks as a socket delivers them, for compression alone, and for CityHash128.
 */
import { encodeBlock } from '../src/protocol/block';
import { encodeBlockPacket } from '../src/protocol/block-packet';
import { ServerCode } from '../src/protocol/codes';
import { cityHash128Into, CompressionMethod, decompressFrame, encodeFrame, lz4NativeAvailable } from '../src/protocol/compression';
import { ConnectionState, Framer } from '../src/protocol/framer';
import { Writer } from '../src/protocol/io/writer';
import { DEFAULT_LIMITS } from '../src/protocol/limits';
import { encodeServerPacket } from '../src/protocol/packets';

const REV = 54460;
const CHUNK = 64 * 1024;
const MiB = 1 << 20;

function bench(name: string, bytes: number, fn: () => void, target?: number): void {
  fn(); // warm-up
  const rates: number[] = [];
  for (let run = 0; run < 7; run++) {
    const t0 = process.hrtime.bigint();
    fn();
    rates.push(bytes / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6);
  }
  rates.sort((a, b) => a - b);
  const verdict = target === undefined ? '' : rates[3] >= target ? `  target ${target}: met` : `  target ${target}: MISSED`;
  console.log(`${name.padEnd(52)} ${rates[3].toFixed(0).padStart(6)} MB/s  (min ${rates[0].toFixed(0)}, max ${rates[6].toFixed(0)})${verdict}`);
}

/** A result stream as a server sends it: header block, `blocks` data blocks, ProfileInfo, Progress, EndOfStream. */
function resultStream(columns: { name: string; type: string; value: (i: number) => unknown }[], rows: number, blocks: number, method: CompressionMethod | null) {
  const block = new Writer(rows * 64);
  encodeBlock(block, { columns: columns.map((c) => ({ name: c.name, type: c.type, values: Array.from({ length: rows }, (_, i) => c.value(i)) })) }, REV);
  const header = new Writer();
  encodeBlock(header, { columns: columns.map((c) => ({ name: c.name, type: c.type, values: [] })) }, REV);
  const w = new Writer(block.length * blocks + 4096);
  encodeBlockPacket(w, ServerCode.Data, '', header.view(), method);
  for (let b = 0; b < blocks; b++) encodeBlockPacket(w, ServerCode.Data, '', block.view(), method);
  encodeServerPacket(w, { code: ServerCode.ProfileInfo, rows: rows * blocks, blocks, bytes: block.length * blocks, appliedLimit: false, rowsBeforeLimit: 0, calculatedRowsBeforeLimit: true }, REV);
  encodeServerPacket(w, { code: ServerCode.Progress, readRows: rows * blocks, readBytes: 0, totalRowsToRead: 0, writtenRows: 0, writtenBytes: 0, elapsedNs: 0 }, REV);
  encodeServerPacket(w, { code: ServerCode.EndOfStream }, REV);
  return { bytes: w.toBuffer(), blockBytes: block.length * blocks };
}

function frameStream(bytes: Buffer, compression: boolean): number {
  const st = new ConnectionState();
  st.onClientHello(REV);
  st.onServerHello(REV);
  st.addendumPending = false;
  st.compression = compression;
  const framer = new Framer('server', st);
  let packets = 0;
  for (let at = 0; at < bytes.length; at += CHUNK) packets += framer.push(bytes.subarray(at, at + CHUNK)).length;
  if (!framer.idle) throw new Error('stream not framed completely');
  return packets;
}

const fixed = resultStream(
  [
    { name: 'id', type: 'UInt64', value: (i) => BigInt(i) },
    { name: 'x', type: 'Float64', value: (i) => i * 0.5 },
    { name: 'n', type: 'Int32', value: (i) => -i },
    { name: 'd', type: 'DateTime', value: (i) => 1_700_000_000 + i },
  ],
  65_536, 40, null,
);
const strings = resultStream(
  [
    { name: 's', type: 'String', value: (i) => `user-${i % 10_000}` },
    { name: 'url', type: 'String', value: (i) => `https://example.com/page/${i}` },
    { name: 'lc', type: 'LowCardinality(String)', value: (i) => `country-${i % 50}` },
  ],
  65_536, 20, null,
);
const mixedColumns = [
  { name: 'id', type: 'UInt64', value: (i: number) => BigInt(i) },
  { name: 's', type: 'String', value: (i: number) => `user-${i % 10_000}` },
  { name: 'x', type: 'Float64', value: (i: number) => i * 0.5 },
];
const lz4 = resultStream(mixedColumns, 65_536, 20, CompressionMethod.LZ4);
const zstd = resultStream(mixedColumns, 65_536, 20, CompressionMethod.ZSTD);

const sample = Buffer.alloc(MiB);
const mixedBlock = new Writer(2 * MiB);
encodeBlock(mixedBlock, { columns: mixedColumns.map((c) => ({ name: c.name, type: c.type, values: Array.from({ length: 40_000 }, (_, i) => c.value(i)) })) }, REV);
mixedBlock.view().copy(sample, 0, 0, MiB);
const lz4Frame = encodeFrame(sample, CompressionMethod.LZ4);
const zstdFrame = encodeFrame(sample, CompressionMethod.ZSTD);
const out16 = Buffer.alloc(16);

console.log(`node ${process.version}, revision ${REV}, ${CHUNK / 1024} KiB chunks; native LZ4: ${lz4NativeAvailable() ? 'C lz4 (node-lz4)' : 'no'}`);
bench(`frame fixed-width stream (${(fixed.bytes.length / MiB).toFixed(0)} MiB, 4 cols)`, fixed.bytes.length, () => frameStream(fixed.bytes, false), 2000);
bench(`frame String-heavy stream (${(strings.bytes.length / MiB).toFixed(0)} MiB, 2 String + LC)`, strings.bytes.length, () => frameStream(strings.bytes, false), 400);
bench(`frame LZ4 stream (decompress + frame; decompressed MB)`, lz4.blockBytes, () => frameStream(lz4.bytes, true), 600);
bench(`frame ZSTD stream (decompress + frame; decompressed MB)`, zstd.blockBytes, () => frameStream(zstd.bytes, true));
bench("LZ4 frame decompress alone, 1 MiB (incl. checksum)", MiB * 20, () => {
  for (let i = 0; i < 20; i++) decompressFrame(lz4Frame, 0, lz4Frame.length, DEFAULT_LIMITS);
});
bench("ZSTD frame decompress alone, 1 MiB (incl. checksum)", MiB * 20, () => {
  for (let i = 0; i < 20; i++) decompressFrame(zstdFrame, 0, zstdFrame.length, DEFAULT_LIMITS);
});
bench('CityHash128 v1.0.2, 1 MiB', MiB * 20, () => {
  for (let i = 0; i < 20; i++) cityHash128Into(sample, 0, sample.length, out16, 0);
}, 500);
