/**
 * Compression layer throughput: CityHash128 v1.0.2, LZ4 and ZSTD frames of 1 MiB column-like data.
 * Run: node -r ts-node/register/transpile-only benchmarks/compression.bench.ts
 * Prints MB/s of uncompressed bytes, median of 7 runs.
 */
import {
  cityHash128Into,
  CompressionMethod,
  decompressFrame,
  encodeFrame,
  lz4CompressBlock,
  lz4CompressBound,
  lz4DecompressBlock,
  lz4NativeAvailable,
} from '../src/protocol/compression';
import { DEFAULT_LIMITS } from '../src/protocol/limits';

/** 1 MiB as a Data block body would hold it: a UInt64 column (ids) and a short String column. */
function columnData(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let p = 0;
  const rows = 60_000;
  for (let i = 0; i < rows && p + 8 <= bytes; i++, p += 8) out.writeBigUInt64LE(BigInt(1_000_000 + i), p);
  for (let i = 0; p < bytes; i++) {
    const s = String(1_000_000 + i);
    if (p + 1 + s.length > bytes) break;
    out[p++] = s.length;
    p += out.write(s, p, 'latin1');
  }
  return out;
}

function bench(name: string, bytesPerCall: number, calls: number, fn: () => void): void {
  for (let i = 0; i < calls; i++) fn(); // warm-up
  const rates: number[] = [];
  for (let run = 0; run < 7; run++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push((bytesPerCall * calls) / seconds / 1e6);
  }
  rates.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} ${rates[3].toFixed(0).padStart(6)} MB/s   (min ${rates[0].toFixed(0)}, max ${rates[6].toFixed(0)})`);
}

const MiB = 1 << 20;
const data = columnData(MiB);
const out16 = Buffer.alloc(16);
const lz4Frame = encodeFrame(data, CompressionMethod.LZ4);
const zstdFrame = encodeFrame(data, CompressionMethod.ZSTD);
const noneFrame = encodeFrame(data, CompressionMethod.None);
const block = Buffer.alloc(lz4CompressBound(data.length));
const blockBytes = lz4CompressBlock(data, 0, data.length, block, 0);
const plain = Buffer.alloc(data.length);

console.log(`node ${process.version}; 1 MiB column-like data; LZ4 frame ${lz4Frame.length} B, ZSTD(1) frame ${zstdFrame.length} B`);
console.log(`native LZ4 decoder: ${lz4NativeAvailable() ? 'C lz4 (node-lz4)' : 'not available (TypeScript only)'}`);
bench('CityHash128 v1.0.2, 1 MiB', MiB, 40, () => cityHash128Into(data, 0, data.length, out16, 0));
bench('CityHash128 v1.0.2, 1 MiB at odd offset', MiB - 1, 40, () => cityHash128Into(data, 1, data.length, out16, 0));
bench('LZ4 frame decode (checksum + decompress)', MiB, 40, () => decompressFrame(lz4Frame, 0, lz4Frame.length, DEFAULT_LIMITS));
bench('LZ4 frame decode, no checksum', MiB, 40, () =>
  decompressFrame(lz4Frame, 0, lz4Frame.length, DEFAULT_LIMITS, { verifyChecksum: false }),
);
bench('LZ4 block decode, TypeScript decoder only', MiB, 40, () => lz4DecompressBlock(block, 0, blockBytes, plain, 0, MiB));
bench('ZSTD frame decode (checksum + decompress)', MiB, 20, () => decompressFrame(zstdFrame, 0, zstdFrame.length, DEFAULT_LIMITS));
bench('NONE frame decode (checksum)', MiB, 40, () => decompressFrame(noneFrame, 0, noneFrame.length, DEFAULT_LIMITS));
bench('LZ4 frame encode (compress + checksum)', MiB, 20, () => encodeFrame(data, CompressionMethod.LZ4));
bench('ZSTD(1) frame encode (compress + checksum)', MiB, 10, () => encodeFrame(data, CompressionMethod.ZSTD));

// Small frames: what a stream of small blocks costs (per-call overhead).
const small = data.subarray(0, 2000);
const smallFrame = encodeFrame(small, CompressionMethod.LZ4);
bench('LZ4 frame decode, 2 KB frames', small.length * 500, 20, () => {
  for (let i = 0; i < 500; i++) decompressFrame(smallFrame, 0, smallFrame.length, DEFAULT_LIMITS);
});
