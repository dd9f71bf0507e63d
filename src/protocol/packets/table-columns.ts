import { ServerCode } from '../codes';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';

/**
 * TableColumns (server packet 11, negotiated >= 54410): `String table_name; String columns`, the
 * text form of ColumnsDescription (src/Storages/ColumnsDescription.cpp), sent before an INSERT
 * header block. Uncompressed below 54481 (the only range this codec serves).
 */
export interface ServerTableColumns {
  code: typeof ServerCode.TableColumns;
  tableName: string;
  /** "columns format version: 1\n<n> columns:\n`name` Type ...". */
  columns: string;
}

export function decodeTableColumns(r: Reader, _rev?: number): ServerTableColumns {
  return { code: ServerCode.TableColumns, tableName: r.string(), columns: r.string() };
}

export function encodeTableColumns(w: Writer, x: ServerTableColumns, _rev?: number): void {
  w.string(x.tableName).string(x.columns);
}
