/**
 * Errors the proxy answers over HTTP, shaped as ClickHouse 18.16's HTTP handler shapes its own (HTTPHandler.cpp
 * trySendExceptionToClient): a status derived from the code, a text/plain body
 * `Code: N, e.displayText() = DB::Exception: …, e.what() = DB::Exception\n`, and, beyond 18.16 (which sends no such
 * header), X-ClickHouse-Exception-Code so that newer clients (@clickhouse/client) read the code without parsing.
 */
import type { ServerResponse } from 'node:http';
import { toReplyError, type ReplyError } from '../frontend/error-reply';

/** Codes the proxy answers over HTTP that the native port does not use. */
export const HttpErrorCode = {
  /** 18.16 answers a wrong password with 193 over HTTP (516 is the native port's, from later servers). */
  WRONG_PASSWORD: 193,
  UNKNOWN_USER: 192,
  REQUIRED_PASSWORD: 194,
} as const;

/**
 * The status 18.16 gives an exception code (HTTPHandler.cpp exceptionCodeToHTTPStatus), reduced to the codes the
 * proxy itself can raise; backend errors pass through with the backend's own status.
 */
export function httpStatusFor(code: number): number {
  switch (code) {
    case HttpErrorCode.UNKNOWN_USER:
    case HttpErrorCode.WRONG_PASSWORD:
    case HttpErrorCode.REQUIRED_PASSWORD:
    case 516: // AUTHENTICATION_FAILED, should a caller pass the native code
      return 401;
    case 62: // SYNTAX_ERROR
      return 400;
    case 81: // UNKNOWN_DATABASE
      return 404;
    case 209: // SOCKET_TIMEOUT
      return 503;
    default:
      return 500;
  }
}

/** The body ClickHouse 18.16 writes for an exception. */
export function errorBody(err: ReplyError): string {
  const text = err.message.startsWith('Gatehouse') ? err.message : `Gatehouse: ${err.message}`;
  return `Code: ${err.chCode}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception\n`;
}

/**
 * Answers `err` (a ReplyError, a LimitRefusal or anything thrown). When the response has already started (a backend
 * failed mid-stream), the status cannot change: the connection is cut so the client sees a truncated response rather
 * than a complete-looking one, as ClickHouse itself does when a query fails after sending data.
 */
export function sendError(res: ServerResponse, err: unknown): ReplyError {
  const reply = toReplyError(err);
  if (res.headersSent) {
    res.destroy();
    return reply;
  }
  const body = errorBody(reply);
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/plain; charset=UTF-8',
    'Content-Length': Buffer.byteLength(body),
    'X-ClickHouse-Exception-Code': String(reply.chCode),
  };
  const status = httpStatusFor(reply.chCode);
  // 18.16 asks for credentials again on 401, as browsers expect.
  if (status === 401) headers['WWW-Authenticate'] = 'Basic realm="ClickHouse server HTTP API"';
  res.writeHead(status, headers);
  res.end(body);
  return reply;
}
