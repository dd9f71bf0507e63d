import type { ProtocolError, ServerException } from '../protocol';

/**
 * Errors of the backend side. Each reaches the client as a ClickHouse Exception packet with `chCode`
 * (numbers from ClickHouse's src/Common/ErrorCodes.cpp). Messages name the backend by its target name,
 * address and user, never by password.
 */

/** ClickHouse error numbers used by the pool (src/Common/ErrorCodes.cpp). */
export const PoolChCode = {
  UNEXPECTED_PACKET_FROM_SERVER: 102,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
  SOCKET_TIMEOUT: 209,
  NETWORK_ERROR: 210,
} as const;

/** Base of errors that reach clients as Exception packets. */
export class ProxyError extends Error {
  constructor(
    message: string,
    /** Stable identifier, 'ERR_…'. */
    readonly code: string,
    /** ClickHouse error number sent to the client. */
    readonly chCode: number,
    /** True when the same request may succeed on another attempt or another backend. */
    readonly retriable: boolean = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProxyError';
  }
}

/** Connect refused or timed out, or the backend socket closed/errored: 210 NETWORK_ERROR. */
export class BackendUnavailableError extends ProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_BACKEND_UNAVAILABLE', PoolChCode.NETWORK_ERROR, true, options);
    this.name = 'BackendUnavailableError';
  }
}

/**
 * A backend owed an answer and sent nothing, not even Progress, for pool.receive_timeout_ms: 209 SOCKET_TIMEOUT, what
 * ClickHouse's own client reports when its receive_timeout runs out (ReadBufferFromPocoSocket::nextImpl, "Timeout
 * exceeded while reading from socket"). The connection is closed. Not retriable: the node may be stopped, or the
 * query merely slow, and sending it elsewhere would double the client's wait.
 */
export class BackendTimeoutError extends ProxyError {
  constructor(
    /** e.g. "reader1 (127.0.0.1:9000) as gh_reader" */
    readonly backend: string,
    readonly receiveTimeoutMs: number,
  ) {
    super(
      `Gatehouse: ${backend} sent nothing for ${receiveTimeoutMs} ms while a query waited for it ` +
        '(pool.receive_timeout_ms); the connection to it was closed',
      'ERR_BACKEND_TIMEOUT',
      PoolChCode.SOCKET_TIMEOUT,
      false,
    );
    this.name = 'BackendTimeoutError';
  }
}

/** No connection became available within the pool's wait timeout: 202 TOO_MANY_SIMULTANEOUS_QUERIES. */
export class PoolTimeoutError extends ProxyError {
  constructor(
    /** e.g. "writer (127.0.0.1:9000) as gh_writer" */
    readonly pool: string,
    readonly waitTimeoutMs: number,
    readonly maxSize: number,
  ) {
    super(
      `Gatehouse: no connection to ${pool} available within ${waitTimeoutMs} ms (pool max ${maxSize})`,
      'ERR_POOL_TIMEOUT',
      PoolChCode.TOO_MANY_SIMULTANEOUS_QUERIES,
      true,
    );
    this.name = 'PoolTimeoutError';
  }
}

/** The backend answered our Hello with an Exception (wrong password 193/516, unknown database 81, …). */
export class BackendHandshakeError extends ProxyError {
  constructor(
    backend: string,
    readonly exception: ServerException,
  ) {
    const first = exception.exceptions[0];
    super(
      `Gatehouse: backend ${backend} refused the handshake: ${first ? first.message : 'empty exception'}`,
      'ERR_BACKEND_HANDSHAKE',
      first ? first.code : PoolChCode.UNEXPECTED_PACKET_FROM_SERVER,
      false,
    );
    this.name = 'BackendHandshakeError';
  }
}

/**
 * The backend stream could not be framed, or a packet came when none was expected: the connection
 * is out of sync and is destroyed. chCode is the ProtocolError's, or 102 UNEXPECTED_PACKET_FROM_SERVER.
 */
export class BackendProtocolError extends ProxyError {
  constructor(message: string, chCode: number = PoolChCode.UNEXPECTED_PACKET_FROM_SERVER, options?: { cause?: ProtocolError | unknown }) {
    super(message, 'ERR_BACKEND_PROTOCOL', chCode, false, options);
    this.name = 'BackendProtocolError';
  }
}

/** A query the proxy ran itself (core count, checks) got an Exception: chCode is the server's. */
export class BackendQueryError extends ProxyError {
  constructor(
    backend: string,
    readonly exception: ServerException,
  ) {
    const first = exception.exceptions[0];
    super(
      `Gatehouse: query on ${backend} failed: ${first ? first.message : 'empty exception'}`,
      'ERR_BACKEND_QUERY',
      first ? first.code : PoolChCode.UNEXPECTED_PACKET_FROM_SERVER,
      false,
    );
    this.name = 'BackendQueryError';
  }
}
