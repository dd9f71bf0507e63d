import { LimitError, MalformedError, NEED_MORE_DATA, UnsupportedError } from '../errors';
import { Reader } from '../io/reader';
import { Limits } from '../limits';
import { Rev } from '../revision';
import { BlockInfo, decodeBlockInfo } from './block-info';
import { atom, physicalType, Sizer, SizerInput, skipColumn, skipColumnNow } from './column-sizer';
import { parseType, TypeNode, typeDepth } from './type-parser';

/** What a sized block declared: its header and column names/types (values are not materialised). */
export interface BlockSummary {
  info: BlockInfo;
  rows: number;
  columns: { name: string; type: string }[];
}

/** Serialization kinds (§10.3, src/DataTypes/Serializations/ISerialization.h Kind). */
export const SerializationKind = {
  Default: 0,
  Sparse: 1,
  Detached: 2,
  DetachedOverSparse: 3,
  Replicated: 4,
  Combination: 5,
} as const;

/**
 * Measure one block (src/Formats/NativeReader.cpp NativeReader::read): BlockInfo, VarUInt columns,
 * VarUInt rows, then per column name, type, [>= 54454] custom-serialization flag and kinds, and the
 * column data when rows > 0. Consumes exactly the block's bytes; resumable (see column-sizer.ts).
 */
export function* sizeBlock(input: SizerInput, rev: number, limits: Limits): Sizer<BlockSummary> {
  const head = yield* atom(input, (r) => readBlockHead(r, rev, limits));
  const columns: { name: string; type: string }[] = [];
  for (let i = 0; i < head.cols; i++) {
    const col = yield* atom(input, (r) => readColumnHeader(r, rev, limits));
    columns.push({ name: col.name, type: col.typeName });
    if (head.rows > 0) yield* skipColumn(input, col.type, head.rows, rev, limits);
  }
  return { info: head.info, rows: head.rows, columns };
}

function readBlockHead(r: Reader, rev: number, limits: Limits): { info: BlockInfo; cols: number; rows: number } {
  const info = decodeBlockInfo(r, rev);
  const cols = r.count(limits.maxColumns, 'maxColumns');
  const rows = r.count(limits.maxRows, 'maxRows');
  return { info, cols, rows };
}

/**
 * sizeBlock in one synchronous pass, with no generator: the block summary and r.pos past the block, or null with
 * r.pos unchanged when the bytes at hand end first or a column is of a kind skipColumnNow leaves to skipColumn (the
 * caller then runs sizeBlock from the same position). For the small blocks most queries exchange (a header block, a
 * few rows, the empty block that ends a client's data), whose generators were a sixth of the proxy's allocations per
 * `SELECT 1`. Errors are sizeBlock's own (same readers, same checks).
 */
export function sizeBlockNow(r: Reader, rev: number, limits: Limits): BlockSummary | null {
  const start = r.pos;
  try {
    const head = readBlockHead(r, rev, limits);
    const columns: { name: string; type: string }[] = [];
    for (let i = 0; i < head.cols; i++) {
      const col = readColumnHeader(r, rev, limits);
      columns.push({ name: col.name, type: col.typeName });
      if (head.rows > 0 && !skipColumnNow(r, col.type, head.rows, limits)) {
        r.pos = start;
        return null;
      }
    }
    return { info: head.info, rows: head.rows, columns };
  } catch (e) {
    if (e !== NEED_MORE_DATA) throw e;
    r.pos = start;
    return null;
  }
}

/** Column header: name, type name, and from 54454 the custom-serialization flag with its kind stack. */
export function readColumnHeader(r: Reader, rev: number, limits: Limits): { name: string; typeName: string; type: TypeNode } {
  const name = r.string(limits.maxStringBytes, 'maxStringBytes');
  const typeName = r.string(limits.maxStringBytes, 'maxStringBytes');
  const type = parseTypeCached(typeName, limits);
  if (rev >= Rev.CustomSerialization) {
    const custom = r.u8();
    if (custom > 1) throw new MalformedError(`has_custom_serialization byte ${custom}`);
    if (custom === 1 && readKinds(r, type)) {
      // SerializationInfo kinds other than DEFAULT are only sent from 54465 (DBMS_MIN_REVISION_WITH_SPARSE_SERIALIZATION).
      if (rev < Rev.SparseSerialization) {
        throw new MalformedError(`column '${name}': non-default serialization kind at revision ${rev} < ${Rev.SparseSerialization}`);
      }
      throw new UnsupportedError(`column '${name}': sparse/replicated serialization is not implemented`);
    }
  }
  return { name, typeName, type };
}

/** Reads a kind stack (and, for tuples, the elements' stacks); true if any kind is not DEFAULT. */
function readKinds(r: Reader, type: TypeNode): boolean {
  const b = r.u8();
  let nonDefault: boolean;
  if (b === SerializationKind.Combination) {
    const n = r.varUInt();
    if (n > 8) throw new MalformedError(`serialization kind stack of ${n} entries`);
    nonDefault = false;
    for (let i = 0; i < n; i++) {
      const k = r.u8();
      if (k > SerializationKind.Replicated) throw new MalformedError(`serialization kind ${k}`);
      if (k !== SerializationKind.Default) nonDefault = true;
    }
  } else if (b > SerializationKind.Combination) {
    throw new MalformedError(`serialization kind ${b}`);
  } else nonDefault = b !== SerializationKind.Default;
  const p = physicalType(type);
  // SerializationInfoTuple writes the elements' kinds after the tuple's own (SerializationInfoTuple.cpp).
  if (p.kind === 'tuple') for (const e of p.elements) if (readKinds(r, e)) nonDefault = true;
  return nonDefault;
}

const TYPE_CACHE = new Map<string, { type: TypeNode; depth: number }>();
const TYPE_CACHE_MAX = 512;

/**
 * parseType with a small memo: the same few type names repeat in every block of a result. The
 * returned AST is shared and must not be mutated.
 */
export function parseTypeCached(name: string, limits: Pick<Limits, 'maxDepth'>): TypeNode {
  const hit = TYPE_CACHE.get(name);
  if (hit) {
    if (hit.depth > limits.maxDepth) throw new LimitError('maxDepth', hit.depth, limits.maxDepth);
    return hit.type;
  }
  const type = parseType(name, limits);
  if (name.length <= 4096) {
    if (TYPE_CACHE.size >= TYPE_CACHE_MAX) TYPE_CACHE.clear();
    TYPE_CACHE.set(name, { type, depth: typeDepth(type) });
  }
  return type;
}
