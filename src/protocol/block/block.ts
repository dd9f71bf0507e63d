import { DEFAULT_LIMITS, Limits } from '../limits';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import { BlockInfo, DEFAULT_BLOCK_INFO, decodeBlockInfo, encodeBlockInfo } from './block-info';
import { readColumnHeader } from './block-sizer';
import { parseType } from './type-parser';
import { decodeColumn, encodeColumn } from './values';

/** A block with materialised values (tests, tools, a small client); see values.ts for the JS mapping. */
export interface DecodedBlock {
  info: BlockInfo;
  rows: number;
  columns: { name: string; type: string; values: unknown[] }[];
}

/** Input of encodeBlock: `info` defaults to is_overflows = 0, bucket_num = -1; `rows` to the first column's length. */
export interface BlockInput {
  info?: BlockInfo;
  rows?: number;
  columns: { name: string; type: string; values: unknown[] }[];
}

/** Decode a whole block (src/Formats/NativeReader.cpp). Throws NEED_MORE_DATA if the bytes end early. */
export function decodeBlock(r: Reader, rev: number, limits: Limits = r.limits ?? DEFAULT_LIMITS): DecodedBlock {
  const saved = r.limits;
  r.limits = limits;
  try {
    const info = decodeBlockInfo(r, rev);
    const numColumns = r.count(limits.maxColumns, 'maxColumns');
    const rows = r.count(limits.maxRows, 'maxRows');
    const columns: DecodedBlock['columns'] = [];
    for (let i = 0; i < numColumns; i++) {
      const h = readColumnHeader(r, rev, limits);
      columns.push({ name: h.name, type: h.typeName, values: decodeColumn(r, h.type, rows, rev) });
    }
    return { info, rows, columns };
  } finally {
    r.limits = saved;
  }
}

/** Encode a block as the server writes it (src/Formats/NativeWriter.cpp); custom serialization is never used. */
export function encodeBlock(w: Writer, block: BlockInput, rev: number): void {
  const rows = block.rows ?? block.columns[0]?.values.length ?? 0;
  for (const c of block.columns) {
    if (c.values.length !== rows) throw new RangeError(`column '${c.name}' has ${c.values.length} values, block has ${rows} rows`);
  }
  encodeBlockInfo(w, block.info ?? DEFAULT_BLOCK_INFO, rev);
  w.varUInt(block.columns.length);
  w.varUInt(rows);
  for (const c of block.columns) {
    w.string(c.name);
    w.string(c.type);
    if (rev >= Rev.CustomSerialization) w.u8(0);
    if (rows > 0) encodeColumn(w, parseType(c.type), c.values, rev);
  }
}
