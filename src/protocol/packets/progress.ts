import { ServerCode } from '../codes';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import { Count, readCount } from './fields';

/**
 * Progress (server packet 3): src/IO/Progress.cpp ProgressValues::read/write. All VarUInt
 * increments since the previous Progress. Order: read_rows, read_bytes, total_rows_to_read,
 * [>= 54463] total_bytes_to_read, [>= 54420] written_rows, written_bytes, [>= 54460] elapsed_ns.
 */
export interface ServerProgress {
  code: typeof ServerCode.Progress;
  readRows: Count;
  readBytes: Count;
  /** Always present (gate 51554 is below every supported revision). */
  totalRowsToRead: Count;
  /** >= 54463 (before the written fields). */
  totalBytesToRead?: Count;
  /** >= 54420 */
  writtenRows?: Count;
  writtenBytes?: Count;
  /** >= 54460 */
  elapsedNs?: Count;
}

export function decodeProgress(r: Reader, rev: number): ServerProgress {
  const p: ServerProgress = {
    code: ServerCode.Progress,
    readRows: readCount(r),
    readBytes: readCount(r),
    totalRowsToRead: readCount(r),
  };
  if (rev >= Rev.TotalBytesInProgress) p.totalBytesToRead = readCount(r);
  if (rev >= Rev.ClientWriteInfo) {
    p.writtenRows = readCount(r);
    p.writtenBytes = readCount(r);
  }
  if (rev >= Rev.ServerQueryTimeInProgress) p.elapsedNs = readCount(r);
  return p;
}

export function encodeProgress(w: Writer, p: ServerProgress, rev: number): void {
  w.varUInt(p.readRows).varUInt(p.readBytes).varUInt(p.totalRowsToRead);
  if (rev >= Rev.TotalBytesInProgress) w.varUInt(p.totalBytesToRead ?? 0);
  if (rev >= Rev.ClientWriteInfo) w.varUInt(p.writtenRows ?? 0).varUInt(p.writtenBytes ?? 0);
  if (rev >= Rev.ServerQueryTimeInProgress) w.varUInt(p.elapsedNs ?? 0);
}
