import { ServerCode } from '../codes';
import { LimitError } from '../errors';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';

/**
 * Exception (server packet 2): src/IO/WriteHelpers.cpp writeException, src/IO/ReadHelpers.cpp
 * readException. `Int32 code; String name; String message; String stack_trace; UInt8 has_nested`
 * and, while has_nested, another exception of the same layout. Never compressed.
 */

/** One exception of the chain. */
export interface ExceptionItem {
  /** ClickHouse error number (src/Common/ErrorCodes.cpp), Int32. */
  code: number;
  /** e.g. "DB::Exception". */
  name: string;
  message: string;
  stackTrace: string;
}

export interface ServerException {
  code: typeof ServerCode.Exception;
  /** Outermost first; at least one. Current servers send exactly one. */
  exceptions: ExceptionItem[];
}

/** Convenience input for encodeServerException: a nested chain instead of a list. */
export interface ExceptionInfo extends ExceptionItem {
  nested?: ExceptionInfo;
}

/** Decodes the body (after the packet code). The chain length is capped by limits.maxDepth. */
export function decodeException(r: Reader, _rev?: number): ServerException {
  const exceptions: ExceptionItem[] = [];
  for (;;) {
    if (exceptions.length >= r.limits.maxDepth) throw new LimitError('maxDepth', exceptions.length + 1, r.limits.maxDepth);
    exceptions.push({ code: r.i32(), name: r.string(), message: r.string(), stackTrace: r.string() });
    if (!r.bool()) return { code: ServerCode.Exception, exceptions };
  }
}

/** Encodes the body (after the packet code). An empty list is a programming error. */
export function encodeException(w: Writer, x: ServerException, _rev?: number): void {
  if (x.exceptions.length === 0) throw new TypeError('an Exception packet needs at least one exception');
  x.exceptions.forEach((e, i) => {
    w.i32(e.code).string(e.name).string(e.message).string(e.stackTrace);
    w.bool(i < x.exceptions.length - 1);
  });
}

/** Flattens a nested chain into the packet form. */
export function exceptionFromInfo(info: ExceptionInfo): ServerException {
  const exceptions: ExceptionItem[] = [];
  for (let e: ExceptionInfo | undefined = info; e; e = e.nested) {
    exceptions.push({ code: e.code, name: e.name, message: e.message, stackTrace: e.stackTrace });
  }
  return { code: ServerCode.Exception, exceptions };
}

/** Writes a whole Exception packet (code 2 + body), e.g. for an error the proxy reports itself. */
export function encodeServerException(w: Writer, info: ExceptionInfo): void {
  w.varUInt(ServerCode.Exception);
  encodeException(w, exceptionFromInfo(info));
}
