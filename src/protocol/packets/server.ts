import { ServerCode, ServerCodeName } from '../codes';
import { UnknownPacketError, UnsupportedError } from '../errors';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import { ServerDataHeader, decodeDataHeader } from './data-header';
import { ServerException, decodeException, encodeException } from './exception';
import { ServerPartUUIDs, decodePartUUIDs, encodePartUUIDs } from './part-uuids';
import { ServerProfileInfo, decodeProfileInfo, encodeProfileInfo } from './profile-info';
import { ServerProgress, decodeProgress, encodeProgress } from './progress';
import { ServerHello, decodeServerHello, encodeServerHello } from './server-hello';
import {
  END_OF_STREAM,
  PONG,
  ServerEndOfStream,
  ServerPong,
  ServerSshChallenge,
  ServerTimezoneUpdate,
  decodeSshChallenge,
  decodeTimezoneUpdate,
  encodeSshChallenge,
  encodeTimezoneUpdate,
} from './simple';
import { ServerTableColumns, decodeTableColumns, encodeTableColumns } from './table-columns';
import { ServerTablesStatusResponse, decodeTablesStatusResponse, encodeTablesStatusResponse } from './tables-status';

/**
 * Server → client packets: the union and its dispatch (src/Core/Protocol.h Protocol::Server,
 * Connection::receivePacket).
 *
 * Codes this codec refuses:
 *  - interserver-only ReadTaskRequest (13), MergeTreeAllRangesAnnouncement (15),
 *    MergeTreeReadTaskRequest (16): UnsupportedError;
 *  - codes the server never sends at the negotiated revision (Log below 54406, TableColumns below
 *    54410, ProfileEvents below 54451, TimezoneUpdate below 54464, SSHChallenge below 54466) and
 *    every other number (e.g. 19 PreviewData): UnknownPacketError. Seeing one means the stream is
 *    out of sync.
 */

export type ServerPacket =
  | ServerHello
  | ServerDataHeader
  | ServerException
  | ServerProgress
  | ServerPong
  | ServerEndOfStream
  | ServerProfileInfo
  | ServerTablesStatusResponse
  | ServerTableColumns
  | ServerPartUUIDs
  | ServerTimezoneUpdate
  | ServerSshChallenge;

function gate(rev: number, min: number, code: number): void {
  if (rev < min) throw new UnknownPacketError('server', code);
}

/**
 * Decodes one server packet starting at r.pos. Data-like packets (Data, Totals, Extremes, Log,
 * ProfileEvents) stop after the table name: the block starts at `blockOffset`.
 * Throws NEED_MORE_DATA if the bytes end first; decoding has no side effect but moving r.pos.
 */
export function decodeServerPacket(r: Reader, rev: number): ServerPacket {
  const code = r.varUInt();
  switch (code) {
    case ServerCode.Hello:
      return decodeServerHello(r, rev);
    case ServerCode.Data:
      return decodeDataHeader(r, ServerCode.Data);
    case ServerCode.Exception:
      return decodeException(r, rev);
    case ServerCode.Progress:
      return decodeProgress(r, rev);
    case ServerCode.Pong:
      return PONG;
    case ServerCode.EndOfStream:
      return END_OF_STREAM;
    case ServerCode.ProfileInfo:
      return decodeProfileInfo(r, rev);
    case ServerCode.Totals:
      return decodeDataHeader(r, ServerCode.Totals);
    case ServerCode.Extremes:
      return decodeDataHeader(r, ServerCode.Extremes);
    case ServerCode.TablesStatusResponse:
      return decodeTablesStatusResponse(r, rev);
    case ServerCode.Log:
      gate(rev, Rev.ServerLogs, code);
      return decodeDataHeader(r, ServerCode.Log);
    case ServerCode.TableColumns:
      gate(rev, Rev.ColumnDefaultsMetadata, code);
      return decodeTableColumns(r, rev);
    case ServerCode.PartUUIDs:
      return decodePartUUIDs(r, rev);
    case ServerCode.ProfileEvents:
      gate(rev, Rev.IncrementalProfileEvents, code);
      return decodeDataHeader(r, ServerCode.ProfileEvents);
    case ServerCode.TimezoneUpdate:
      gate(rev, Rev.TimezoneUpdates, code);
      return decodeTimezoneUpdate(r, rev);
    case ServerCode.SSHChallenge:
      gate(rev, Rev.SshAuthentication, code);
      return decodeSshChallenge(r, rev);
    case ServerCode.ReadTaskRequest:
    case ServerCode.MergeTreeAllRangesAnnouncement:
    case ServerCode.MergeTreeReadTaskRequest:
      throw new UnsupportedError(`interserver-only server packet ${ServerCodeName[code]} (${code})`);
    default:
      throw new UnknownPacketError('server', code);
  }
}

function assertNever(x: never): never {
  throw new TypeError(`unhandled server packet ${JSON.stringify(x)}`);
}

/**
 * Encodes one server packet: code then body. For data-like packets only the code and table name
 * are written; the caller writes the block.
 */
export function encodeServerPacket(w: Writer, p: ServerPacket, rev: number): void {
  w.varUInt(p.code);
  switch (p.code) {
    case ServerCode.Hello:
      return encodeServerHello(w, p, rev);
    case ServerCode.Data:
    case ServerCode.Totals:
    case ServerCode.Extremes:
    case ServerCode.Log:
    case ServerCode.ProfileEvents:
      w.string(p.tableName);
      return;
    case ServerCode.Exception:
      return encodeException(w, p, rev);
    case ServerCode.Progress:
      return encodeProgress(w, p, rev);
    case ServerCode.Pong:
    case ServerCode.EndOfStream:
      return;
    case ServerCode.ProfileInfo:
      return encodeProfileInfo(w, p, rev);
    case ServerCode.TablesStatusResponse:
      return encodeTablesStatusResponse(w, p, rev);
    case ServerCode.TableColumns:
      return encodeTableColumns(w, p, rev);
    case ServerCode.PartUUIDs:
      return encodePartUUIDs(w, p, rev);
    case ServerCode.TimezoneUpdate:
      return encodeTimezoneUpdate(w, p, rev);
    case ServerCode.SSHChallenge:
      return encodeSshChallenge(w, p, rev);
    default:
      return assertNever(p);
  }
}

/** One-line description for logs (server packets carry no secrets; bigint and Buffers are shortened). */
export function describeServerPacket(p: ServerPacket): string {
  return `${ServerCodeName[p.code] ?? p.code} ${JSON.stringify(p, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer') return '<bytes>';
    return v;
  })}`;
}
