import { encodeServerException, ProtocolError, Writer } from '../protocol';

/** ClickHouse error numbers the proxy itself sends (src/Common/ErrorCodes.cpp). */
export const ProxyErrorCode = {
  UNKNOWN_DATABASE: 81,
  IP_ADDRESS_NOT_ALLOWED: 195,
  QUOTA_EXCEEDED: 201,
  SETTING_CONSTRAINT_VIOLATION: 452,
  ACCESS_DENIED: 497,
  UNEXPECTED_PACKET_FROM_CLIENT: 101,
  TIMEOUT_EXCEEDED: 159,
  SOCKET_TIMEOUT: 209,
  READONLY: 164,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
  NETWORK_ERROR: 210,
  ALL_CONNECTION_TRIES_FAILED: 279,
  AUTHENTICATION_FAILED: 516,
  CLIENT_HAS_CONNECTED_TO_WRONG_PORT: 217,
  UNKNOWN_EXCEPTION: 1002,
} as const;

/** An error the proxy reports to a client as an Exception packet. */
export interface ReplyError {
  chCode: number;
  message: string;
}

/**
 * The one place an error becomes an Exception packet. The message names the proxy, as
 * `DB::Exception: Gatehouse: …` (clients print the message after "Code: N.").
 */
export function exceptionPacket(err: ReplyError | unknown): Buffer {
  const { chCode, message } = toReplyError(err);
  const w = new Writer(128 + message.length);
  const text = message.startsWith('Gatehouse') ? message : `Gatehouse: ${message}`;
  encodeServerException(w, { code: chCode, name: 'DB::Exception', message: `DB::Exception: ${text}`, stackTrace: '' });
  return w.toBuffer();
}

export function toReplyError(err: unknown): ReplyError {
  if (err && typeof err === 'object' && 'chCode' in err && typeof (err as ReplyError).chCode === 'number') {
    const e = err as ReplyError & { message: string };
    return { chCode: e.chCode, message: e.message };
  }
  if (err instanceof ProtocolError) return { chCode: err.chCode, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { chCode: ProxyErrorCode.UNKNOWN_EXCEPTION, message: `internal error: ${message}` };
}

export function replyError(chCode: number, message: string): ReplyError {
  return { chCode, message: message.startsWith('Gatehouse') ? message : `Gatehouse: ${message}` };
}
