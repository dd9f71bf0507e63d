import { ClientCode, ServerCode } from '../codes';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';

/**
 * TablesStatusRequest (client 5) and TablesStatusResponse (server 9):
 * src/Interpreters/TablesStatus.cpp. Both need negotiated >= 54226 (below every supported revision).
 * The interserver cluster-secret hash after the request (>= 54487) is not implemented.
 */

export interface QualifiedTableName {
  database: string;
  table: string;
}

export interface ClientTablesStatusRequest {
  code: typeof ClientCode.TablesStatusRequest;
  tables: QualifiedTableName[];
}

export interface TableStatus extends QualifiedTableName {
  isReplicated: boolean;
  /** Present iff isReplicated (VarUInt seconds). */
  absoluteDelay?: number;
  /** Present iff isReplicated and negotiated >= 54467 (VarUInt 0/1). */
  isReadonly?: boolean;
}

export interface ServerTablesStatusResponse {
  code: typeof ServerCode.TablesStatusResponse;
  /** Tables that do not exist are silently omitted by the server. */
  tables: TableStatus[];
}

export function decodeTablesStatusRequest(r: Reader, _rev?: number): ClientTablesStatusRequest {
  const n = r.count(r.limits.maxListEntries, 'maxListEntries');
  const tables: QualifiedTableName[] = [];
  for (let i = 0; i < n; i++) tables.push({ database: r.string(), table: r.string() });
  return { code: ClientCode.TablesStatusRequest, tables };
}

export function encodeTablesStatusRequest(w: Writer, x: ClientTablesStatusRequest, _rev?: number): void {
  w.varUInt(x.tables.length);
  for (const t of x.tables) w.string(t.database).string(t.table);
}

export function decodeTablesStatusResponse(r: Reader, rev: number): ServerTablesStatusResponse {
  const n = r.count(r.limits.maxListEntries, 'maxListEntries');
  const tables: TableStatus[] = [];
  for (let i = 0; i < n; i++) {
    const t: TableStatus = { database: r.string(), table: r.string(), isReplicated: r.bool() };
    if (t.isReplicated) {
      t.absoluteDelay = r.varUInt();
      if (rev >= Rev.TableReadOnlyCheck) t.isReadonly = r.varUInt() !== 0;
    }
    tables.push(t);
  }
  return { code: ServerCode.TablesStatusResponse, tables };
}

export function encodeTablesStatusResponse(w: Writer, x: ServerTablesStatusResponse, rev: number): void {
  w.varUInt(x.tables.length);
  for (const t of x.tables) {
    w.string(t.database).string(t.table).bool(t.isReplicated);
    if (t.isReplicated) {
      w.varUInt(t.absoluteDelay ?? 0);
      if (rev >= Rev.TableReadOnlyCheck) w.varUInt(t.isReadonly ? 1 : 0);
    }
  }
}
