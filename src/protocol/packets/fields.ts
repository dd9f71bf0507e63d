import { Reader } from '../io/reader';

/**
 * Field helpers shared by the packet codecs (not a packet of its own).
 */

/** A 64-bit counter from the wire: a number when exact (≤ 2^53 - 1), else a bigint. */
export type Count = number | bigint;

/** VarUInt counter of the full UInt64 range (Progress, ProfileInfo): number when it is exact, else bigint. */
export function readCount(r: Reader): Count {
  // Up to 7 bytes (below 2^49, exact in a double) without a BigInt: Progress and ProfileInfo come with every query.
  const buf = r.buf;
  const end = r.end;
  let pos = r.pos;
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 7 && pos < end; i++) {
    const b = buf[pos++];
    v += (b & 0x7f) * mul;
    if (b < 0x80) {
      r.pos = pos;
      return v;
    }
    mul *= 128;
  }
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
