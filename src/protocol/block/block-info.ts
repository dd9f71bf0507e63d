import { MalformedError, UnsupportedError } from '../errors';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';

/** Block header fields (src/Core/BlockInfo.h). */
export interface BlockInfo {
  isOverflows: boolean;
  bucketNum: number;
}

/** BlockInfo field 3 (out_of_order_buckets) exists from this revision (src/Core/BlockInfo.cpp). */
export const OUT_OF_ORDER_BUCKETS_REVISION = 54480;

export const DEFAULT_BLOCK_INFO: Readonly<BlockInfo> = Object.freeze({ isOverflows: false, bucketNum: -1 });

/**
 * BlockInfo: (VarUInt field_number, value) pairs ended by field 0 (src/Core/BlockInfo.cpp BlockInfo::read).
 * Field 1 is_overflows UInt8, field 2 bucket_num Int32; field 3 only at >= 54480, above what this codec
 * negotiates, so it is malformed here like any unknown field.
 */
export function decodeBlockInfo(r: Reader, rev: number): BlockInfo {
  const info: BlockInfo = { isOverflows: false, bucketNum: -1 };
  for (;;) {
    const field = r.varUInt();
    if (field === 0) return info;
    if (field === 1) info.isOverflows = r.u8() !== 0;
    else if (field === 2) info.bucketNum = r.i32();
    else if (field === 3 && rev >= OUT_OF_ORDER_BUCKETS_REVISION) {
      throw new UnsupportedError(`BlockInfo field 3 (out_of_order_buckets) at revision ${rev} is not implemented`);
    } else throw new MalformedError(`unknown BlockInfo field ${field} at revision ${rev}`);
  }
}

/** Writes both fields and the terminator, as the server does (src/Core/BlockInfo.cpp BlockInfo::write). */
export function encodeBlockInfo(w: Writer, info: BlockInfo, rev: number): void {
  if (rev >= OUT_OF_ORDER_BUCKETS_REVISION) throw new RangeError(`BlockInfo at revision ${rev} is not implemented`);
  w.varUInt(1).u8(info.isOverflows ? 1 : 0);
  w.varUInt(2).i32(info.bucketNum);
  w.varUInt(0);
}
