/**
 * ZSTD payloads of ClickHouse frames with method 0x90: one complete zstd frame each
 * (src/Compression/CompressionCodecZSTD.cpp, ZSTD_compress / ZSTD_decompress, default level 1 on the
 * network: network_zstd_compression_level).
 *
 * Backed by the reference C library compiled to WebAssembly (@bokuweb/zstd-wasm, shipped inside
 * the npm package, no download at install). We call its exported ZSTD_* functions directly rather
 * than its wrappers: the wrapper sizes the output from the frame's own content-size field, which
 * is attacker-controlled; we size it from the ClickHouse header that was already checked against a
 * limit. The WebAssembly memory is a sandbox, so corrupt input yields an error code, never a crash.
 *
 * The module is instantiated synchronously on first use (reads the .wasm file once), so the codec
 * keeps a synchronous API.
 */
import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import { CompressionError } from '../errors';

/** The parts of the Emscripten module we use (dist/common/zstd.js of @bokuweb/zstd-wasm 0.0.27). */
interface ZstdWasm {
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _ZSTD_isError(code: number): number;
  _ZSTD_compressBound(bytes: number): number;
  _ZSTD_compress(dst: number, dstCapacity: number, src: number, srcBytes: number, level: number): number;
  _ZSTD_decompress(dst: number, dstCapacity: number, src: number, srcBytes: number): number;
  HEAPU8: Uint8Array;
  calledRun?: boolean;
  instantiateWasm?: (imports: object, receive: (instance: WasmInstance) => unknown) => unknown;
  init(wasm?: Uint8Array): unknown;
}

// The project's lib setting (ES2022, no DOM) has no WebAssembly typings; this is all we touch.
interface WasmInstance {
  exports: object;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => WasmInstance;
}

/** ClickHouse's default network ZSTD level (network_zstd_compression_level, src/Core/Settings.h). */
export const ZSTD_DEFAULT_LEVEL = 1;

let wasm: ZstdWasm | null = null;
let loadError: Error | null = null;

function load(): ZstdWasm {
  if (wasm) return wasm;
  if (loadError) throw new CompressionError(`ZSTD codec unavailable: ${loadError.message}`);
  try {
    // The package's "exports" map only exposes its async wrapper; its Emscripten module sits next to it.
    const dir = dirname(require.resolve('@bokuweb/zstd-wasm'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const m = (require(join(dir, 'module.js')) as { Module: ZstdWasm }).Module;
    if (!m.calledRun) {
      const bytes = readFileSync(join(dir, 'zstd.wasm'));
      m.instantiateWasm = (imports, receive) => {
        const wa = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
        const instance = new wa.Instance(new wa.Module(bytes), imports);
        receive(instance);
        return instance.exports;
      };
      m.init();
      if (!m.calledRun) throw new Error('WebAssembly module did not initialise synchronously');
    }
    wasm = m;
    return m;
  } catch (e) {
    loadError = e instanceof Error ? e : new Error(String(e));
    throw new CompressionError(`ZSTD codec unavailable: ${loadError.message}`);
  }
}

function alloc(z: ZstdWasm, bytes: number): number {
  const p = z._malloc(Math.max(1, bytes));
  if (!p) throw new CompressionError(`ZSTD: cannot allocate ${bytes} bytes of WebAssembly memory`);
  return p;
}

/**
 * Decompresses the zstd data src[srcStart, srcEnd) into dst[dstStart, dstEnd), which it must fill
 * exactly; nothing beyond dstEnd is ever written (the output capacity passed to ZSTD is the
 * declared size). Errors are CompressionError.
 */
export function zstdDecompress(
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
  dst: Uint8Array,
  dstStart: number,
  dstEnd: number,
): void {
  const z = load();
  const srcBytes = srcEnd - srcStart;
  const cap = dstEnd - dstStart;
  let ps = 0;
  let pd = 0;
  try {
    ps = alloc(z, srcBytes);
    pd = alloc(z, cap);
    z.HEAPU8.set(src.subarray(srcStart, srcEnd), ps);
    const n = z._ZSTD_decompress(pd, cap, ps, srcBytes);
    if (z._ZSTD_isError(n)) throw new CompressionError(`corrupt ZSTD data (error code ${-n})`);
    if (n !== cap) throw new CompressionError(`ZSTD: decoded ${n} bytes, declared ${cap}`);
    dst.set(z.HEAPU8.subarray(pd, pd + n), dstStart);
  } catch (e) {
    if (e instanceof CompressionError) throw e;
    throw new CompressionError(`ZSTD decompression failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    if (pd) z._free(pd);
    if (ps) z._free(ps);
  }
}

/** Compresses src[start, end) into one zstd frame. */
export function zstdCompress(src: Uint8Array, start: number, end: number, level = ZSTD_DEFAULT_LEVEL): Buffer {
  const z = load();
  const srcBytes = end - start;
  const bound = z._ZSTD_compressBound(srcBytes);
  let ps = 0;
  let pd = 0;
  try {
    ps = alloc(z, srcBytes);
    pd = alloc(z, bound);
    z.HEAPU8.set(src.subarray(start, end), ps);
    const n = z._ZSTD_compress(pd, bound, ps, srcBytes, level);
    if (z._ZSTD_isError(n)) throw new CompressionError(`ZSTD compression failed (error code ${-n})`);
    return Buffer.from(z.HEAPU8.subarray(pd, pd + n));
  } catch (e) {
    if (e instanceof CompressionError) throw e;
    throw new CompressionError(`ZSTD compression failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    if (pd) z._free(pd);
    if (ps) z._free(ps);
  }
}
