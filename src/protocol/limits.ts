/**
 * Every size read from the wire is checked against one of these before anything is allocated.
 * Defaults follow the ClickHouse server where it has a limit (1 GiB strings and frames,
 * DBMS_MAX_HELLO_STRING_SIZE = 4096 in src/Core/ProtocolDefines.h), and are tighter where a proxy
 * has no reason to accept more (columns per block).
 */
export interface Limits {
  /** Longest String value or field (src/IO/ReadHelpers.h: DEFAULT_MAX_STRING_SIZE = 1 GiB). */
  maxStringBytes: number;
  /** Longest String in a Hello packet (DBMS_MAX_HELLO_STRING_SIZE). */
  maxHelloStringBytes: number;
  /** Largest compressed frame, header included (DBMS_MAX_COMPRESSED_SIZE = 1 GiB). */
  maxCompressedFrameBytes: number;
  /** Largest decompressed frame payload. */
  maxDecompressedFrameBytes: number;
  /** Largest block, decompressed (sum of frames of one Data packet). */
  maxBlockBytes: number;
  /** Columns per block. */
  maxColumns: number;
  /** Rows per block. */
  maxRows: number;
  /** Elements in a nested Array/Map column of one block, and LowCardinality dictionary keys. */
  maxArrayElements: number;
  /** Entries in a list (settings, parameters, tables-status entries, part UUIDs, nested exceptions). */
  maxListEntries: number;
  /** Nesting depth of type names and nested exceptions. */
  maxDepth: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxStringBytes: 1 << 30,
  maxHelloStringBytes: 4096,
  maxCompressedFrameBytes: 1 << 30,
  maxDecompressedFrameBytes: 1 << 30,
  maxBlockBytes: 1 << 30,
  maxColumns: 100_000,
  maxRows: 1 << 30,
  maxArrayElements: 1 << 30,
  maxListEntries: 1 << 20,
  maxDepth: 64,
});

export function withLimits(overrides: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...overrides };
}
