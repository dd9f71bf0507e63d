import {
  ClientCode,
  decodeBlock,
  encodeBlock,
  encodeBlockPacket,
  encodeClientPacket,
  Interface,
  QueryKind,
  Reader,
  ServerCode,
  Stage,
  Writer,
  type ClientQuery,
  type DecodedBlock,
  type FramedPacket,
  type ServerException,
  type Setting,
} from '../protocol';
import { backendLabel, GATEHOUSE_VERSION, type BackendConnection } from './backend-connection';
import { BackendQueryError, BackendUnavailableError, ProxyError } from './errors';

/**
 * Queries the proxy runs itself on a backend connection (the core count, health checks, tests):
 * an uncompressed Query plus the empty Data block that ends external tables (native-protocol.md
 * §9.1), then every packet up to EndOfStream. Results are small; blocks are materialised.
 */

export interface QueryResult {
  /** Column names and types from the first block (the header block). */
  columns: { name: string; type: string }[];
  /** Rows of all non-empty Data blocks, each an array of column values. */
  rows: unknown[][];
  /** Every framed packet, in order (for tests that check the packet sequence). */
  packets: FramedPacket[];
}

/** Encodes Query + empty Data block at the connection's revision (what a client sends for a SELECT). */
export function encodeSimpleQuery(sql: string, rev: number, settings: Setting[] = [], queryId = ''): Buffer {
  const q: ClientQuery = {
    code: ClientCode.Query,
    queryId,
    clientInfo: {
      queryKind: QueryKind.Initial,
      initialUser: '',
      initialQueryId: '',
      initialAddress: '0.0.0.0:0',
      interface: Interface.TCP,
      tcp: {
        osUser: '',
        clientHostname: '',
        clientName: 'Gatehouse',
        clientVersionMajor: GATEHOUSE_VERSION.major,
        clientVersionMinor: GATEHOUSE_VERSION.minor,
        clientTcpProtocolVersion: rev,
      },
    },
    settings,
    stage: Stage.Complete,
    compression: false,
    query: sql,
  };
  const w = new Writer(256);
  encodeClientPacket(w, q, rev);
  const block = new Writer(16);
  encodeBlock(block, { columns: [] }, rev);
  encodeBlockPacket(w, ClientCode.Data, '', block.view(), null);
  return w.toBuffer();
}

/** Decodes the block of a framed server Data/Totals/Extremes packet (uncompressed only). */
export function decodeFramedBlock(p: FramedPacket, rev: number): DecodedBlock {
  const bytes = p.chunks.length === 1 ? p.chunks[0] : Buffer.concat(p.chunks);
  const r = new Reader(bytes);
  r.varUInt(); // packet code
  r.string(); // table name
  return decodeBlock(r, rev);
}

/**
 * Runs `sql` on a connection the caller holds (checked out, idle) and resolves with its rows.
 * Rejects BackendQueryError on a server Exception (the connection stays usable), the connection's
 * failure if it breaks, or BackendUnavailableError after timeoutMs (the connection is destroyed).
 */
export function runQuery(conn: BackendConnection, sql: string, timeoutMs = 10_000, settings: Setting[] = []): Promise<QueryResult> {
  if (conn.broken) return Promise.reject(conn.error ?? new BackendUnavailableError('Gatehouse: connection is closed'));
  const label = backendLabel(conn.target, conn.identity);
  return new Promise((resolve, reject) => {
    const result: QueryResult = { columns: [], rows: [], packets: [] };
    const done = (err: ProxyError | null): void => {
      clearTimeout(timer);
      conn.onPacket = null;
      conn.onFailure = null;
      if (err) reject(err);
      else resolve(result);
    };
    const timer = setTimeout(() => {
      conn.destroy(`closed: query took longer than ${timeoutMs} ms`);
      done(new BackendUnavailableError(`Gatehouse: query on ${label} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    conn.onFailure = (err) => done(err);
    conn.onPacket = (p) => {
      result.packets.push(p);
      if (p.code === ServerCode.Data && p.block) {
        if (result.columns.length === 0 && p.block.columns.length > 0) result.columns = p.block.columns;
        if (p.block.rows > 0) {
          const b = decodeFramedBlock(p, conn.revision);
          for (let i = 0; i < b.rows; i++) result.rows.push(b.columns.map((c) => c.values[i]));
        }
      } else if (p.code === ServerCode.Exception) {
        done(new BackendQueryError(label, p.packet as ServerException));
      } else if (p.code === ServerCode.EndOfStream) {
        done(null);
      }
    };
    conn.beginQuery(false);
    conn.write(encodeSimpleQuery(sql, conn.revision, settings));
  });
}
