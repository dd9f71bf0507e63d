import { ClientCode } from '../codes';
import { MalformedError } from '../errors';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import { ClientInfo, decodeClientInfo, encodeClientInfo } from './client-info';
import { readStringCopy } from './fields';
import { Setting, decodeSettings, decodeSettingsWithFlags, encodeSettings, encodeSettingsWithFlags } from './settings';

/**
 * Query (client packet 1): Connection::sendQuery / TCPHandler::processQuery.
 * query_id, ClientInfo (>= 54032), settings (format by 54429), external roles (>= 54472),
 * interserver secret hash (>= 54441), stage, compression, query text, parameters (>= 54459).
 */

/** DBMS_MIN_PROTOCOL_VERSION_WITH_INTERSERVER_EXTERNALLY_GRANTED_ROLES (above PROXY_MAX_REVISION). */
export const REV_INTERSERVER_EXTERNALLY_GRANTED_ROLES = 54472;
/** TCPHandler reads the interserver hash with a 32-byte cap (an SHA-256 digest, or empty). */
export const MAX_INTERSERVER_HASH_BYTES = 32;

export interface ClientQuery {
  code: typeof ClientCode.Query;
  /** Empty → the server generates one. */
  queryId: string;
  /** >= 54032 */
  clientInfo?: ClientInfo;
  /** In wire order; legacy binary values converted to text (see settings.ts). */
  settings: Setting[];
  /** >= 54472: a serialized vector<String>, kept as bytes; empty for normal clients. */
  externalRoles?: Buffer;
  /** >= 54441: empty, or 32 raw SHA-256 bytes. A secret: describeClientPacket redacts it. */
  interserverSecretHash?: Buffer;
  /** QueryProcessingStage (codes.ts Stage); end-user clients send 2 (Complete). */
  stage: number;
  /**
   * Whether the blocks of this query travel in compressed frames (wire: VarUInt 0/1,
   * Protocol::Compression). Other values are rejected as malformed rather than guessed.
   */
  compression: boolean;
  query: string;
  /** >= 54459: strings-with-flags list (flags usually Custom, values quoted Field dumps). */
  parameters?: Setting[];
}

/** Decodes the body (after the packet code). */
export function decodeQuery(r: Reader, rev: number): ClientQuery {
  const q: ClientQuery = { code: ClientCode.Query, queryId: r.string(), settings: [], stage: 0, compression: false, query: '' };
  if (rev >= Rev.ClientInfo) q.clientInfo = decodeClientInfo(r, rev);
  q.settings = decodeSettings(r, rev);
  if (rev >= REV_INTERSERVER_EXTERNALLY_GRANTED_ROLES) q.externalRoles = readStringCopy(r);
  if (rev >= Rev.InterserverSecret) {
    q.interserverSecretHash = readStringCopy(r, MAX_INTERSERVER_HASH_BYTES, 'interserverSecretHashBytes');
  }
  q.stage = r.varUInt();
  const compression = r.varUInt();
  if (compression > 1) throw new MalformedError(`Query: compression flag ${compression} (expected 0 or 1)`);
  q.compression = compression === 1;
  q.query = r.string();
  // Parameters are always strings-with-flags: 54459 is above the 54429 format switch.
  if (rev >= Rev.Parameters) q.parameters = decodeSettingsWithFlags(r);
  return q;
}

/** Encodes the body (after the packet code); missing gated fields are written as their defaults. */
export function encodeQuery(w: Writer, q: ClientQuery, rev: number): void {
  w.string(q.queryId);
  if (rev >= Rev.ClientInfo) encodeClientInfo(w, q.clientInfo ?? { queryKind: 0 }, rev);
  encodeSettings(w, q.settings, rev);
  if (rev >= REV_INTERSERVER_EXTERNALLY_GRANTED_ROLES) w.string(q.externalRoles ?? Buffer.alloc(0));
  if (rev >= Rev.InterserverSecret) w.string(q.interserverSecretHash ?? Buffer.alloc(0));
  w.varUInt(q.stage).varUInt(q.compression ? 1 : 0).string(q.query);
  if (rev >= Rev.Parameters) encodeSettingsWithFlags(w, q.parameters ?? []);
}
