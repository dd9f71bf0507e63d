import { ServerCode } from '../codes';
import { LimitError } from '../errors';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import { REV_CHUNKED_PACKETS, REV_VERSIONED_PARALLEL_REPLICAS_PROTOCOL } from './client-hello';
import { readHelloString } from './fields';
import { Setting, decodeSettingsWithFlags, encodeSettingsWithFlags } from './settings';

/**
 * Server Hello (server packet 0): TCPHandler::sendHello / Connection::receiveHello. Every field
 * after the revision is gated by the negotiated revision; fields above PROXY_MAX_REVISION are
 * implemented (gated) up to 54477. The cluster-function protocol version (54479, known only from
 * third-party clients) is not.
 */

/** DBMS_MAX_PASSWORD_COMPLEXITY_RULES (src/Core/ProtocolDefines.h), enforced by the client on receive. */
export const MAX_PASSWORD_COMPLEXITY_RULES = 256;
/** DBMS_MIN_REVISION_WITH_SERVER_SETTINGS. */
export const REV_SERVER_SETTINGS = 54474;
/** DBMS_MIN_REVISION_WITH_QUERY_PLAN_SERIALIZATION. */
export const REV_QUERY_PLAN_SERIALIZATION = 54477;

export interface PasswordComplexityRule {
  pattern: string;
  message: string;
}

export interface ServerHello {
  code: typeof ServerCode.Hello;
  serverName: string;
  versionMajor: number;
  versionMinor: number;
  /** The server's DBMS_TCP_PROTOCOL_VERSION. */
  revision: number;
  /** >= 54471; on the wire directly after the revision, before the time zone. */
  parallelReplicasProtocolVersion?: number;
  /** >= 54058 */
  timezone?: string;
  /** >= 54372 */
  displayName?: string;
  /** >= 54401 (if absent, clients take the revision as the patch). */
  versionPatch?: number;
  /** >= 54470: proto_caps.send / proto_caps.recv (`chunked`, `notchunked`, `*_optional`). */
  chunkedSend?: string;
  chunkedRecv?: string;
  /** >= 54461 */
  passwordComplexityRules?: PasswordComplexityRule[];
  /** >= 54462, UInt64 fixed 8 bytes (interserver secret v2). */
  nonce?: bigint;
  /** >= 54474, strings-with-flags list. */
  serverSettings?: Setting[];
  /** >= 54477 */
  queryPlanSerializationVersion?: number;
}

/** Decodes the body (after the packet code); Strings are capped by limits.maxHelloStringBytes. */
export function decodeServerHello(r: Reader, rev: number): ServerHello {
  const h: ServerHello = {
    code: ServerCode.Hello,
    serverName: readHelloString(r),
    versionMajor: r.varUInt(),
    versionMinor: r.varUInt(),
    revision: r.varUInt(),
  };
  // The server writes each field by the client's revision, and knows no field above its own:
  // both sides gate on min(client, server) (Connection::receiveHello reads the revision first,
  // then compares with it), so a client above the server reads only the server's fields.
  rev = Math.min(rev, h.revision);
  if (rev >= REV_VERSIONED_PARALLEL_REPLICAS_PROTOCOL) h.parallelReplicasProtocolVersion = r.varUInt();
  if (rev >= Rev.ServerTimezone) h.timezone = readHelloString(r);
  if (rev >= Rev.ServerDisplayName) h.displayName = readHelloString(r);
  if (rev >= Rev.VersionPatch) h.versionPatch = r.varUInt();
  if (rev >= REV_CHUNKED_PACKETS) {
    h.chunkedSend = readHelloString(r);
    h.chunkedRecv = readHelloString(r);
  }
  if (rev >= Rev.PasswordComplexityRules) {
    const n = r.varUInt();
    if (n > MAX_PASSWORD_COMPLEXITY_RULES) throw new LimitError('maxPasswordComplexityRules', n, MAX_PASSWORD_COMPLEXITY_RULES);
    const rules: PasswordComplexityRule[] = [];
    for (let i = 0; i < n; i++) rules.push({ pattern: readHelloString(r), message: readHelloString(r) });
    h.passwordComplexityRules = rules;
  }
  if (rev >= Rev.InterserverSecretV2) h.nonce = r.u64();
  if (rev >= REV_SERVER_SETTINGS) h.serverSettings = decodeSettingsWithFlags(r);
  if (rev >= REV_QUERY_PLAN_SERIALIZATION) h.queryPlanSerializationVersion = r.varUInt();
  return h;
}

/** Encodes the body (after the packet code); missing gated fields are written as their defaults. */
export function encodeServerHello(w: Writer, h: ServerHello, rev: number): void {
  w.string(h.serverName).varUInt(h.versionMajor).varUInt(h.versionMinor).varUInt(h.revision);
  rev = Math.min(rev, h.revision);
  if (rev >= REV_VERSIONED_PARALLEL_REPLICAS_PROTOCOL) w.varUInt(h.parallelReplicasProtocolVersion ?? 0);
  if (rev >= Rev.ServerTimezone) w.string(h.timezone ?? '');
  if (rev >= Rev.ServerDisplayName) w.string(h.displayName ?? '');
  if (rev >= Rev.VersionPatch) w.varUInt(h.versionPatch ?? 0);
  if (rev >= REV_CHUNKED_PACKETS) w.string(h.chunkedSend ?? 'notchunked').string(h.chunkedRecv ?? 'notchunked');
  if (rev >= Rev.PasswordComplexityRules) {
    const rules = h.passwordComplexityRules ?? [];
    w.varUInt(rules.length);
    for (const rule of rules) w.string(rule.pattern).string(rule.message);
  }
  if (rev >= Rev.InterserverSecretV2) w.u64(h.nonce ?? 0n);
  if (rev >= REV_SERVER_SETTINGS) encodeSettingsWithFlags(w, h.serverSettings ?? []);
  if (rev >= REV_QUERY_PLAN_SERIALIZATION) w.varUInt(h.queryPlanSerializationVersion ?? 0);
}
