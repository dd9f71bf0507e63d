/**
 * Typed errors of the codec. Everything the codec throws on bad input is a ProtocolError
 * (or the NEED_MORE_DATA sentinel, which is not an error but "wait for more bytes").
 * `chCode` is the ClickHouse error number a proxy sends in an Exception packet for it.
 */

/** ClickHouse error numbers used by the codec (src/Common/ErrorCodes.cpp). */
export const ChErrorCode = {
  CANNOT_PARSE_INPUT_ASSERTION_FAILED: 27,
  UNKNOWN_PACKET_FROM_CLIENT: 99,
  UNEXPECTED_PACKET_FROM_CLIENT: 101,
  UNKNOWN_PACKET_FROM_SERVER: 100,
  UNEXPECTED_PACKET_FROM_SERVER: 102,
  UNKNOWN_SETTING: 115,
  TOO_LARGE_STRING_SIZE: 131,
  UNKNOWN_TYPE: 50,
  CHECKSUM_DOESNT_MATCH: 40,
  TOO_LARGE_SIZE_COMPRESSED: 271,
  UNKNOWN_COMPRESSION_METHOD: 89,
  CANNOT_DECOMPRESS: 271,
  LIMIT_EXCEEDED: 290,
  NOT_IMPLEMENTED: 48,
  INCORRECT_DATA: 117,
} as const;

export type ProtocolErrorCode =
  | 'ERR_MALFORMED'
  | 'ERR_LIMIT'
  | 'ERR_UNKNOWN_PACKET'
  | 'ERR_UNKNOWN_SETTING'
  | 'ERR_UNKNOWN_TYPE'
  | 'ERR_UNSUPPORTED'
  | 'ERR_CHECKSUM'
  | 'ERR_COMPRESSION';

export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly chCode: number = ChErrorCode.INCORRECT_DATA,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Structurally invalid bytes: over-long VarUInt, bad bool, unknown BlockInfo field, … */
export class MalformedError extends ProtocolError {
  constructor(message: string) {
    super('ERR_MALFORMED', message, ChErrorCode.INCORRECT_DATA);
    this.name = 'MalformedError';
  }
}

/** A size on the wire is above a named limit; raised before allocating. */
export class LimitError extends ProtocolError {
  constructor(readonly limit: string, readonly value: number | bigint, readonly max: number) {
    super('ERR_LIMIT', `${limit} exceeded: ${value} > ${max}`, ChErrorCode.LIMIT_EXCEEDED);
    this.name = 'LimitError';
  }
}

export class UnknownPacketError extends ProtocolError {
  constructor(readonly direction: 'client' | 'server', readonly packetCode: number) {
    super(
      'ERR_UNKNOWN_PACKET',
      `unknown packet code ${packetCode} from ${direction}`,
      direction === 'client' ? ChErrorCode.UNKNOWN_PACKET_FROM_CLIENT : ChErrorCode.UNKNOWN_PACKET_FROM_SERVER,
    );
    this.name = 'UnknownPacketError';
  }
}

export class UnknownSettingError extends ProtocolError {
  constructor(readonly setting: string) {
    super(
      'ERR_UNKNOWN_SETTING',
      `setting '${setting}' has no known wire kind for the legacy binary settings format (revision < 54429)`,
      ChErrorCode.UNKNOWN_SETTING,
    );
    this.name = 'UnknownSettingError';
  }
}

export class UnknownTypeError extends ProtocolError {
  constructor(message: string) {
    super('ERR_UNKNOWN_TYPE', message, ChErrorCode.UNKNOWN_TYPE);
    this.name = 'UnknownTypeError';
  }
}

/** Valid on the wire, but this codec cannot measure or decode it (e.g. an opaque AggregateFunction state). */
export class UnsupportedError extends ProtocolError {
  constructor(message: string) {
    super('ERR_UNSUPPORTED', message, ChErrorCode.NOT_IMPLEMENTED);
    this.name = 'UnsupportedError';
  }
}

export class ChecksumError extends ProtocolError {
  constructor(readonly expected: string, readonly actual: string) {
    super('ERR_CHECKSUM', `compressed frame checksum mismatch: expected ${expected}, got ${actual}`, ChErrorCode.CHECKSUM_DOESNT_MATCH);
    this.name = 'ChecksumError';
  }
}

export class CompressionError extends ProtocolError {
  constructor(message: string, chCode: number = ChErrorCode.CANNOT_DECOMPRESS) {
    super('ERR_COMPRESSION', message, chCode);
    this.name = 'CompressionError';
  }
}

/**
 * Thrown by the Reader when it runs past the end of the bytes it has. Not an error: the framer
 * catches it, rewinds to its last checkpoint and waits for the next chunk. One preallocated
 * instance, so throwing it costs no stack capture.
 */
export class NeedMoreData {
  readonly needMoreData = true;
}
export const NEED_MORE_DATA = new NeedMoreData();

export function isNeedMoreData(e: unknown): e is NeedMoreData {
  return e === NEED_MORE_DATA;
}
