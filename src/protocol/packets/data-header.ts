import { ClientCode, ServerCode } from '../codes';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';

/**
 * The "data header" of block-carrying packets: the packet code and the String table name that
 * precede a Native block (client Data 2 / Scalar 7; server Data 1, Totals 7, Extremes 8, Log 10,
 * ProfileEvents 14). Only this prefix is decoded here; the block itself (possibly in compressed
 * frames for Data/Totals/Extremes/Scalar, always raw for Log/ProfileEvents below 54481) starts at
 * `blockOffset` and is framed by src/protocol/block.
 */

export type ClientDataCode = typeof ClientCode.Data | typeof ClientCode.Scalar;
export type ServerDataCode =
  | typeof ServerCode.Data
  | typeof ServerCode.Totals
  | typeof ServerCode.Extremes
  | typeof ServerCode.Log
  | typeof ServerCode.ProfileEvents;

export interface DataHeader<C extends number = number> {
  code: C;
  /** External table / scalar name; empty for query results, INSERT data and the end-of-data block. */
  tableName: string;
  /** Absolute offset in the reader's buffer where the block starts (Reader.pos after the name). */
  blockOffset: number;
}

export type ClientDataHeader = DataHeader<ClientDataCode>;
export type ServerDataHeader = DataHeader<ServerDataCode>;

/** Reads the table name (after the packet code) and records where the block starts. */
export function decodeDataHeader<C extends number>(r: Reader, code: C): DataHeader<C> {
  const tableName = r.string();
  return { code, tableName, blockOffset: r.pos };
}

/** Writes code + table name; the caller writes the block next. */
export function encodeDataHeader(w: Writer, x: { code: number; tableName: string }): void {
  w.varUInt(x.code).string(x.tableName);
}
