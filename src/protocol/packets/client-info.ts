import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Interface, QueryKind } from '../codes';
import { Rev } from '../revision';

/**
 * ClientInfo inside a Query packet (negotiated >= 54032), src/Interpreters/ClientInfo.cpp
 * (ClientInfo::read / ClientInfo::write). Field order is exact; a gated field is present in the
 * decoded object only when it is on the wire at that revision, and the encoder writes its default
 * when it is missing.
 */

/** DBMS_MIN_REVISION_WITH_QUERY_AND_LINE_NUMBERS (above PROXY_MAX_REVISION; gated for completeness). */
export const REV_QUERY_AND_LINE_NUMBERS = 54475;
/** DBMS_MIN_REVISON_WITH_JWT_IN_INTERSERVER (sic). */
export const REV_JWT_IN_INTERSERVER = 54476;
/** DBMS_MIN_REVISION_WITH_CLIENT_AGENT_IN_CLIENT_INFO. Later ClientInfo fields (54486+) are not implemented. */
export const REV_CLIENT_AGENT_IN_CLIENT_INFO = 54485;

/** Fields written only when interface = TCP. */
export interface ClientInfoTcp {
  osUser: string;
  clientHostname: string;
  clientName: string;
  clientVersionMajor: number;
  clientVersionMinor: number;
  clientTcpProtocolVersion: number;
  /** >= 54401 (far from the other version fields on the wire: after distributed_depth). */
  clientVersionPatch?: number;
}

/** Fields written only when interface = HTTP. */
export interface ClientInfoHttp {
  /** 0 unknown, 1 GET, 2 POST, 3 OPTIONS. */
  httpMethod: number;
  httpUserAgent: string;
  /** >= 54443 */
  forwardedFor?: string;
  /** >= 54447 */
  httpReferer?: string;
}

/** OpenTelemetry trace context (>= 54442). */
export interface TraceContext {
  /** UUID text (wire: two little-endian UInt64 halves). */
  traceId: string;
  spanId: bigint;
  traceState: string;
  traceFlags: number;
}

export interface ParallelReplicasInfo {
  collaborateWithInitiator: number;
  countParticipatingReplicas: number;
  numberOfCurrentReplica: number;
}

/** query_kind = 0 (QueryKind::NO_QUERY): nothing else follows. */
export interface ClientInfoEmpty {
  queryKind: typeof QueryKind.None;
}

export interface ClientInfoQuery {
  /** 1 initial, 2 secondary (any non-zero UInt8 is accepted). */
  queryKind: number;
  initialUser: string;
  initialQueryId: string;
  /** `ip:port`; clients send `0.0.0.0:0`. */
  initialAddress: string;
  /** >= 54449, fixed 8 bytes. */
  initialQueryStartTimeMicroseconds?: bigint;
  /** UInt8 ClientInfo::Interface (1 TCP, 2 HTTP, ...). */
  interface: number;
  /** Present iff interface = TCP. */
  tcp?: ClientInfoTcp;
  /** Present iff interface = HTTP. */
  http?: ClientInfoHttp;
  /** >= 54060 */
  quotaKey?: string;
  /** >= 54448 */
  distributedDepth?: number;
  /** >= 54442; null = has_trace 0. */
  openTelemetry?: TraceContext | null;
  /** >= 54453 */
  parallelReplicas?: ParallelReplicasInfo;
  /** >= 54475 */
  scriptQueryNumber?: number;
  scriptLineNumber?: number;
  /** >= 54476; null = has_jwt 0. A secret: never log it. */
  jwt?: string | null;
  /** >= 54485 */
  clientAgent?: string;
}

export type ClientInfo = ClientInfoEmpty | ClientInfoQuery;

export function decodeClientInfo(r: Reader, rev: number): ClientInfo {
  const queryKind = r.u8();
  if (queryKind === QueryKind.None) return { queryKind: QueryKind.None };
  const info: ClientInfoQuery = {
    queryKind,
    initialUser: r.string(),
    initialQueryId: r.string(),
    initialAddress: r.string(),
    interface: 0,
  };
  if (rev >= Rev.InitialQueryStartTime) info.initialQueryStartTimeMicroseconds = r.u64();
  info.interface = r.u8();
  if (info.interface === Interface.TCP) {
    info.tcp = {
      osUser: r.string(),
      clientHostname: r.string(),
      clientName: r.string(),
      clientVersionMajor: r.varUInt(),
      clientVersionMinor: r.varUInt(),
      clientTcpProtocolVersion: r.varUInt(),
    };
  } else if (info.interface === Interface.HTTP) {
    const http: ClientInfoHttp = { httpMethod: r.u8(), httpUserAgent: r.string() };
    if (rev >= Rev.XForwardedForInClientInfo) http.forwardedFor = r.string();
    if (rev >= Rev.RefererInClientInfo) http.httpReferer = r.string();
    info.http = http;
  }
  if (rev >= Rev.QuotaKeyInClientInfo) info.quotaKey = r.string();
  if (rev >= Rev.DistributedDepth) info.distributedDepth = r.varUInt();
  if (info.tcp && rev >= Rev.VersionPatch) info.tcp.clientVersionPatch = r.varUInt();
  if (rev >= Rev.OpenTelemetry) {
    // Any non-zero byte means "present", as in ClientInfo::read.
    info.openTelemetry =
      !r.bool() ? null : { traceId: r.uuid(), spanId: r.u64(), traceState: r.string(), traceFlags: r.u8() };
  }
  if (rev >= Rev.ParallelReplicas) {
    info.parallelReplicas = {
      collaborateWithInitiator: r.varUInt(),
      countParticipatingReplicas: r.varUInt(),
      numberOfCurrentReplica: r.varUInt(),
    };
  }
  if (rev >= REV_QUERY_AND_LINE_NUMBERS) {
    info.scriptQueryNumber = r.varUInt();
    info.scriptLineNumber = r.varUInt();
  }
  if (rev >= REV_JWT_IN_INTERSERVER) {
    info.jwt = !r.bool() ? null : r.string();
  }
  if (rev >= REV_CLIENT_AGENT_IN_CLIENT_INFO) info.clientAgent = r.string();
  return info;
}

const EMPTY_TCP: ClientInfoTcp = {
  osUser: '',
  clientHostname: '',
  clientName: '',
  clientVersionMajor: 0,
  clientVersionMinor: 0,
  clientTcpProtocolVersion: 0,
};
const EMPTY_HTTP: ClientInfoHttp = { httpMethod: 0, httpUserAgent: '' };

export function encodeClientInfo(w: Writer, info: ClientInfo, rev: number): void {
  w.u8(info.queryKind);
  if (info.queryKind === QueryKind.None) return;
  const q = info as ClientInfoQuery;
  w.string(q.initialUser).string(q.initialQueryId).string(q.initialAddress);
  if (rev >= Rev.InitialQueryStartTime) w.u64(q.initialQueryStartTimeMicroseconds ?? 0n);
  w.u8(q.interface);
  const tcp = q.interface === Interface.TCP ? (q.tcp ?? EMPTY_TCP) : undefined;
  if (tcp) {
    w.string(tcp.osUser).string(tcp.clientHostname).string(tcp.clientName);
    w.varUInt(tcp.clientVersionMajor).varUInt(tcp.clientVersionMinor).varUInt(tcp.clientTcpProtocolVersion);
  } else if (q.interface === Interface.HTTP) {
    const http = q.http ?? EMPTY_HTTP;
    w.u8(http.httpMethod).string(http.httpUserAgent);
    if (rev >= Rev.XForwardedForInClientInfo) w.string(http.forwardedFor ?? '');
    if (rev >= Rev.RefererInClientInfo) w.string(http.httpReferer ?? '');
  }
  if (rev >= Rev.QuotaKeyInClientInfo) w.string(q.quotaKey ?? '');
  if (rev >= Rev.DistributedDepth) w.varUInt(q.distributedDepth ?? 0);
  if (tcp && rev >= Rev.VersionPatch) w.varUInt(tcp.clientVersionPatch ?? 0);
  if (rev >= Rev.OpenTelemetry) {
    const t = q.openTelemetry;
    if (!t) w.u8(0);
    else w.u8(1).uuid(t.traceId).u64(t.spanId).string(t.traceState).u8(t.traceFlags);
  }
  if (rev >= Rev.ParallelReplicas) {
    const p = q.parallelReplicas;
    w.varUInt(p?.collaborateWithInitiator ?? 0)
      .varUInt(p?.countParticipatingReplicas ?? 0)
      .varUInt(p?.numberOfCurrentReplica ?? 0);
  }
  if (rev >= REV_QUERY_AND_LINE_NUMBERS) w.varUInt(q.scriptQueryNumber ?? 0).varUInt(q.scriptLineNumber ?? 0);
  if (rev >= REV_JWT_IN_INTERSERVER) {
    if (q.jwt == null) w.u8(0);
    else w.u8(1).string(q.jwt);
  }
  if (rev >= REV_CLIENT_AGENT_IN_CLIENT_INFO) w.string(q.clientAgent ?? '');
}
