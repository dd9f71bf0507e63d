import { ClientCode, ClientCodeName } from '../codes';
import { UnknownPacketError, UnsupportedError } from '../errors';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import {
  ADDENDUM_CODE,
  ClientAddendum,
  ClientHello,
  decodeAddendum,
  decodeClientHello,
  encodeAddendum,
  encodeClientHello,
} from './client-hello';
import { ClientDataHeader, decodeDataHeader } from './data-header';
import { ClientIgnoredPartUUIDs, decodeIgnoredPartUUIDs, encodeIgnoredPartUUIDs } from './part-uuids';
import { ClientQuery, decodeQuery, encodeQuery } from './query';
import {
  CANCEL,
  ClientCancel,
  ClientKeepAlive,
  ClientPing,
  ClientSshChallengeRequest,
  ClientSshChallengeResponse,
  KEEP_ALIVE,
  PING,
  SSH_CHALLENGE_REQUEST,
  decodeSshChallengeResponse,
  encodeSshChallengeResponse,
} from './simple';
import { ClientTablesStatusRequest, decodeTablesStatusRequest, encodeTablesStatusRequest } from './tables-status';

/**
 * Client → server packets: the union and its dispatch (src/Core/Protocol.h Protocol::Client,
 * TCPHandler::receivePacket).
 *
 * Codes this codec refuses:
 *  - interserver-only ReadTaskResponse (9), MergeTreeReadTaskResponse (10), QueryPlan (13):
 *    UnsupportedError (valid ClickHouse traffic, but never sent by end-user clients, and their
 *    bodies are versioned by protocols this codec does not implement);
 *  - codes that do not exist at the negotiated revision (Scalar 7 below 54429, SSH 11/12 below
 *    54466) and every other number: UnknownPacketError.
 */

/** DBMS_MIN_REVISION_WITH_SSH_AUTHENTICATION. */
const REV_SSH = Rev.SshAuthentication;

export type ClientPacket =
  | ClientHello
  | ClientAddendum
  | ClientQuery
  | ClientDataHeader
  | ClientCancel
  | ClientPing
  | ClientTablesStatusRequest
  | ClientKeepAlive
  | ClientIgnoredPartUUIDs
  | ClientSshChallengeRequest
  | ClientSshChallengeResponse;

/** What the connection expects next that the bytes themselves cannot tell. */
export interface ClientDecodeState {
  /**
   * The server Hello was just sent at a negotiated revision >= 54458: the next bytes are the
   * addendum, which has no packet code.
   */
  expectAddendum?: boolean;
}

/**
 * Decodes one client packet starting at r.pos. Throws NEED_MORE_DATA if the bytes end first (the
 * caller rewinds to the packet start and retries later: decoding has no other side effect).
 */
export function decodeClientPacket(r: Reader, rev: number, state?: ClientDecodeState): ClientPacket {
  if (state?.expectAddendum) return decodeAddendum(r, rev);
  const code = r.varUInt();
  switch (code) {
    case ClientCode.Hello:
      return decodeClientHello(r);
    case ClientCode.Query:
      return decodeQuery(r, rev);
    case ClientCode.Data:
      return decodeDataHeader(r, ClientCode.Data);
    case ClientCode.Cancel:
      return CANCEL;
    case ClientCode.Ping:
      return PING;
    case ClientCode.TablesStatusRequest:
      return decodeTablesStatusRequest(r, rev);
    case ClientCode.KeepAlive:
      return KEEP_ALIVE;
    case ClientCode.Scalar:
      if (rev < Rev.Scalars) throw new UnknownPacketError('client', code);
      return decodeDataHeader(r, ClientCode.Scalar);
    case ClientCode.IgnoredPartUUIDs:
      return decodeIgnoredPartUUIDs(r, rev);
    case ClientCode.SSHChallengeRequest:
      if (rev < REV_SSH) throw new UnknownPacketError('client', code);
      return SSH_CHALLENGE_REQUEST;
    case ClientCode.SSHChallengeResponse:
      if (rev < REV_SSH) throw new UnknownPacketError('client', code);
      return decodeSshChallengeResponse(r, rev);
    case ClientCode.ReadTaskResponse:
    case ClientCode.MergeTreeReadTaskResponse:
    case ClientCode.QueryPlan:
      throw new UnsupportedError(`interserver-only client packet ${ClientCodeName[code]} (${code})`);
    default:
      throw new UnknownPacketError('client', code);
  }
}

function assertNever(x: never): never {
  throw new TypeError(`unhandled client packet ${JSON.stringify(x)}`);
}

/**
 * Encodes one client packet: its code then its body (the addendum has no code). For Data/Scalar
 * only the code and table name are written; the caller writes the block.
 */
export function encodeClientPacket(w: Writer, p: ClientPacket, rev: number): void {
  if (p.code === ADDENDUM_CODE) {
    encodeAddendum(w, p, rev);
    return;
  }
  w.varUInt(p.code);
  switch (p.code) {
    case ClientCode.Hello:
      return encodeClientHello(w, p);
    case ClientCode.Query:
      return encodeQuery(w, p, rev);
    case ClientCode.Data:
    case ClientCode.Scalar:
      w.string(p.tableName);
      return;
    case ClientCode.Cancel:
    case ClientCode.Ping:
    case ClientCode.KeepAlive:
    case ClientCode.SSHChallengeRequest:
      return;
    case ClientCode.TablesStatusRequest:
      return encodeTablesStatusRequest(w, p, rev);
    case ClientCode.IgnoredPartUUIDs:
      return encodeIgnoredPartUUIDs(w, p, rev);
    case ClientCode.SSHChallengeResponse:
      return encodeSshChallengeResponse(w, p, rev);
    default:
      return assertNever(p);
  }
}

const REDACTED = '<redacted>';

/**
 * One-line description for logs and errors. Secrets are never printed: the Hello password, the
 * interserver salt, the Query's interserver secret hash and ClientInfo JWT, the SSH signature.
 */
export function describeClientPacket(p: ClientPacket): string {
  const name = p.code === ADDENDUM_CODE ? 'Addendum' : (ClientCodeName[p.code] ?? String(p.code));
  let shown: unknown = p;
  switch (p.code) {
    case ClientCode.Hello:
      shown = {
        ...p,
        password: p.password === '' ? '' : REDACTED,
        ...(p.interserver ? { interserver: { cluster: p.interserver.cluster, salt: REDACTED } } : {}),
      };
      break;
    case ClientCode.Query: {
      const q: Record<string, unknown> = { ...p };
      if (p.interserverSecretHash && p.interserverSecretHash.length > 0) q.interserverSecretHash = REDACTED;
      if (p.clientInfo && 'jwt' in p.clientInfo && p.clientInfo.jwt) q.clientInfo = { ...p.clientInfo, jwt: REDACTED };
      shown = q;
      break;
    }
    case ClientCode.SSHChallengeResponse:
      shown = { ...p, signature: REDACTED };
      break;
    default:
      break;
  }
  return `${name} ${JSON.stringify(shown, jsonValue)}`;
}

function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return `<${(v as { data: unknown[] }).data.length} bytes>`;
  }
  return v;
}
