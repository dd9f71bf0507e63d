import { ClientCode, ServerCode } from '../codes';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { readStringCopy } from './fields';

/**
 * Packets without a body or with a single String body. Sources: src/Core/Protocol.h,
 * src/Server/TCPHandler.cpp, src/Client/Connection.cpp.
 */

/** Cancel (3): stop the running query; the client then reads until EndOfStream/Exception. */
export interface ClientCancel {
  code: typeof ClientCode.Cancel;
}
/** Ping (4): answered with Pong. */
export interface ClientPing {
  code: typeof ClientCode.Ping;
}
/** KeepAlive (6): defined, but current servers reject it as an unknown packet; never send it upstream. */
export interface ClientKeepAlive {
  code: typeof ClientCode.KeepAlive;
}
/** SSHChallengeRequest (11, >= 54466): right after a Hello whose user carries the SSH marker. */
export interface ClientSshChallengeRequest {
  code: typeof ClientCode.SSHChallengeRequest;
}
/** SSHChallengeResponse (12, >= 54466): `String signature` (binary). */
export interface ClientSshChallengeResponse {
  code: typeof ClientCode.SSHChallengeResponse;
  signature: Buffer;
}

export interface ServerPong {
  code: typeof ServerCode.Pong;
}
/** EndOfStream (5): the query finished (also after a Cancel). */
export interface ServerEndOfStream {
  code: typeof ServerCode.EndOfStream;
}
/** TimezoneUpdate (17, >= 54464): `String` session time zone. */
export interface ServerTimezoneUpdate {
  code: typeof ServerCode.TimezoneUpdate;
  timezone: string;
}
/** SSHChallenge (18, >= 54466): `String challenge` (handshake only). */
export interface ServerSshChallenge {
  code: typeof ServerCode.SSHChallenge;
  challenge: Buffer;
}

/** Shared decoded forms of the no-body packets (frozen: never mutate a decoded packet). */
export const CANCEL: Readonly<ClientCancel> = Object.freeze({ code: ClientCode.Cancel });
export const PING: Readonly<ClientPing> = Object.freeze({ code: ClientCode.Ping });
export const KEEP_ALIVE: Readonly<ClientKeepAlive> = Object.freeze({ code: ClientCode.KeepAlive });
export const SSH_CHALLENGE_REQUEST: Readonly<ClientSshChallengeRequest> = Object.freeze({
  code: ClientCode.SSHChallengeRequest,
});
export const PONG: Readonly<ServerPong> = Object.freeze({ code: ServerCode.Pong });
export const END_OF_STREAM: Readonly<ServerEndOfStream> = Object.freeze({ code: ServerCode.EndOfStream });

export function decodeSshChallengeResponse(r: Reader, _rev?: number): ClientSshChallengeResponse {
  return { code: ClientCode.SSHChallengeResponse, signature: readStringCopy(r) };
}
export function encodeSshChallengeResponse(w: Writer, x: ClientSshChallengeResponse, _rev?: number): void {
  w.string(x.signature);
}

export function decodeTimezoneUpdate(r: Reader, _rev?: number): ServerTimezoneUpdate {
  return { code: ServerCode.TimezoneUpdate, timezone: r.string() };
}
export function encodeTimezoneUpdate(w: Writer, x: ServerTimezoneUpdate, _rev?: number): void {
  w.string(x.timezone);
}

export function decodeSshChallenge(r: Reader, _rev?: number): ServerSshChallenge {
  return { code: ServerCode.SSHChallenge, challenge: readStringCopy(r) };
}
export function encodeSshChallenge(w: Writer, x: ServerSshChallenge, _rev?: number): void {
  w.string(x.challenge);
}
