import { ServerCode } from '../codes';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import { Count, readCount } from './fields';

/**
 * ProfileInfo (server packet 6): src/QueryPipeline/ProfileInfo.cpp. rows, blocks, bytes (VarUInt),
 * applied_limit (UInt8), rows_before_limit (VarUInt), calculated_rows_before_limit (UInt8, obsolete,
 * current servers write 1), [>= 54469] applied_aggregation (UInt8), rows_before_aggregation (VarUInt).
 */
export interface ServerProfileInfo {
  code: typeof ServerCode.ProfileInfo;
  rows: Count;
  blocks: Count;
  bytes: Count;
  appliedLimit: boolean;
  rowsBeforeLimit: Count;
  calculatedRowsBeforeLimit: boolean;
  /** >= 54469 */
  appliedAggregation?: boolean;
  rowsBeforeAggregation?: Count;
}

export function decodeProfileInfo(r: Reader, rev: number): ServerProfileInfo {
  const p: ServerProfileInfo = {
    code: ServerCode.ProfileInfo,
    rows: readCount(r),
    blocks: readCount(r),
    bytes: readCount(r),
    appliedLimit: r.bool(),
    rowsBeforeLimit: readCount(r),
    calculatedRowsBeforeLimit: r.bool(),
  };
  if (rev >= Rev.RowsBeforeAggregation) {
    p.appliedAggregation = r.bool();
    p.rowsBeforeAggregation = readCount(r);
  }
  return p;
}

export function encodeProfileInfo(w: Writer, p: ServerProfileInfo, rev: number): void {
  w.varUInt(p.rows).varUInt(p.blocks).varUInt(p.bytes).bool(p.appliedLimit).varUInt(p.rowsBeforeLimit);
  w.bool(p.calculatedRowsBeforeLimit);
  if (rev >= Rev.RowsBeforeAggregation) w.bool(p.appliedAggregation ?? false).varUInt(p.rowsBeforeAggregation ?? 0);
}
