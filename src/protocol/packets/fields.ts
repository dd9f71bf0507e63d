import { MalformedError } from '../errors';
import { Reader } from '../io/reader';

/**
 * Field helpers shared by the packet codecs (not a packet of its own).
 */

/** A 64-bit counter from the wire: a number when exact (≤ 2^53 - 1), else a bigint. */
export type Count = number | bigint;

/** VarUInt counter of the full UInt64 range (Progress, ProfileInfo): number when it is exact, else bigint. */
export function readCount(r: Reader): Count {
  // The Reader's number decoder first (no BigInt: Progress and ProfileInfo come with every query); it refuses values
  // above 2^53, and those (with 2^53 itself, not a safe integer) are read again as a bigint.
  const start = r.pos;
  try {
    const v = r.varUInt();
    if (v <= Number.MAX_SAFE_INTEGER) return v;
  } catch (e) {
    if (!(e instanceof MalformedError)) throw e;
  }
  r.pos = start;
  const big = r.varUIntBig();
  return big <= MAX_SAFE ? Number(big) : big;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Normalises a counter the way readCount would return it (tests and callers comparing values). */
export function normalizeCount(v: Count): Count {
  const b = BigInt.asUintN(64, BigInt(v));
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/** A String of a Hello packet, capped by DBMS_MAX_HELLO_STRING_SIZE (src/Core/ProtocolDefines.h). */
export function readHelloString(r: Reader): string {
  return r.string(r.limits.maxHelloStringBytes, 'maxHelloStringBytes');
}

/** A String as raw bytes, copied so the packet object does not pin (or alias) the input buffer. */
export function readStringCopy(r: Reader, max?: number, what?: string): Buffer {
  return Buffer.from(r.stringBytes(max, what));
}
