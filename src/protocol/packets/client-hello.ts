import { ClientCode } from '../codes';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import { readHelloString } from './fields';

/**
 * Client Hello (client packet 0) and the handshake addendum.
 * Sources: src/Client/Connection.cpp (sendHello, sendAddendum), src/Server/TCPHandler.cpp
 * (receiveHello, receiveAddendum), src/Core/Protocol.h (EncodedUserInfo markers).
 */

/** User-name markers of Protocol.h EncodedUserInfo. */
export const UserMarker = {
  /** With an empty password: interserver mode; cluster and salt Strings follow the password. */
  InterserverSecret: ' INTERSERVER SECRET ',
  /** Prefixed to the real user name, empty password: SSH key authentication (>= 54466). */
  SshKeyAuthentication: ' SSH KEY AUTHENTICATION ',
  /** The password field carries a JWT. */
  JwtAuthentication: ' JWT AUTHENTICATION ',
} as const;

/** TCPHandler reads the interserver salt with a 32-byte cap (readStringBinary(salt, *in, 32)). */
export const MAX_INTERSERVER_SALT_BYTES = 32;

export interface ClientHello {
  code: typeof ClientCode.Hello;
  /** e.g. "ClickHouse client", "ClickHouse python-driver". */
  clientName: string;
  versionMajor: number;
  versionMinor: number;
  /** The client's DBMS_TCP_PROTOCOL_VERSION (the patch version is never sent here). */
  revision: number;
  database: string;
  user: string;
  /** Plain text (or a JWT). A secret: describeClientPacket redacts it. */
  password: string;
  /** Only when user = UserMarker.InterserverSecret and the password is empty. */
  interserver?: { cluster: string; salt: string };
}

/**
 * Decodes the Hello body (after the packet code). Its layout does not depend on a revision, so
 * there is no `rev` parameter. Every String is capped by limits.maxHelloStringBytes.
 */
export function decodeClientHello(r: Reader): ClientHello {
  const hello: ClientHello = {
    code: ClientCode.Hello,
    clientName: readHelloString(r),
    versionMajor: r.varUInt(),
    versionMinor: r.varUInt(),
    revision: r.varUInt(),
    database: readHelloString(r),
    user: readHelloString(r),
    password: readHelloString(r),
  };
  // TCPHandler::receiveHello: is_interserver_mode = (user == USER_INTERSERVER_MARKER) && password.empty()
  if (hello.user === UserMarker.InterserverSecret && hello.password === '') {
    hello.interserver = {
      cluster: readHelloString(r),
      salt: r.string(MAX_INTERSERVER_SALT_BYTES, 'interserverSaltBytes'),
    };
  }
  return hello;
}

/** Encodes the Hello body (after the packet code). */
export function encodeClientHello(w: Writer, h: ClientHello): void {
  w.string(h.clientName).varUInt(h.versionMajor).varUInt(h.versionMinor).varUInt(h.revision);
  w.string(h.database).string(h.user).string(h.password);
  if (h.user === UserMarker.InterserverSecret && h.password === '') {
    w.string(h.interserver?.cluster ?? '').string(h.interserver?.salt ?? '');
  }
}

/**
 * The addendum has no packet code on the wire. In decoded form it carries this pseudo code so it
 * can travel in the ClientPacket union; decodeClientPacket returns it when state.expectAddendum.
 */
export const ADDENDUM_CODE = -1;

/** DBMS_MIN_PROTOCOL_VERSION_WITH_CHUNKED_PACKETS. */
export const REV_CHUNKED_PACKETS = 54470;
/** DBMS_MIN_REVISION_WITH_VERSIONED_PARALLEL_REPLICAS_PROTOCOL. */
export const REV_VERSIONED_PARALLEL_REPLICAS_PROTOCOL = 54471;

/** Sent by the client right after it read the server Hello, when negotiated >= 54458. */
export interface ClientAddendum {
  code: typeof ADDENDUM_CODE;
  /** >= 54458 */
  quotaKey?: string;
  /** >= 54470: `chunked` or `notchunked` (what the client will send / wants to receive). */
  chunkedSend?: string;
  chunkedRecv?: string;
  /** >= 54471 */
  parallelReplicasProtocolVersion?: number;
}

/** Short name used by the framer. */
export type Addendum = ClientAddendum;

/** True when the negotiated revision has an addendum at all. */
export function hasAddendum(rev: number): boolean {
  return rev >= Rev.Addendum;
}

/** TCPHandler::receiveAddendum. Below 54458 there is no addendum: nothing is read. */
export function decodeAddendum(r: Reader, rev: number): ClientAddendum {
  const a: ClientAddendum = { code: ADDENDUM_CODE };
  if (rev >= Rev.QuotaKey) a.quotaKey = readHelloString(r);
  if (rev >= REV_CHUNKED_PACKETS) {
    a.chunkedSend = readHelloString(r);
    a.chunkedRecv = readHelloString(r);
  }
  if (rev >= REV_VERSIONED_PARALLEL_REPLICAS_PROTOCOL) a.parallelReplicasProtocolVersion = r.varUInt();
  return a;
}

/** Connection::sendAddendum. Missing chunking fields default to `notchunked`. */
export function encodeAddendum(w: Writer, a: ClientAddendum, rev: number): void {
  if (rev >= Rev.QuotaKey) w.string(a.quotaKey ?? '');
  if (rev >= REV_CHUNKED_PACKETS) w.string(a.chunkedSend ?? 'notchunked').string(a.chunkedRecv ?? 'notchunked');
  if (rev >= REV_VERSIONED_PARALLEL_REPLICAS_PROTOCOL) w.varUInt(a.parallelReplicasProtocolVersion ?? 0);
}
