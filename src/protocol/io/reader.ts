import { LimitError, MalformedError, NEED_MORE_DATA } from '../errors';
import { DEFAULT_LIMITS, Limits } from '../limits';

const TWO_POW_53 = 2 ** 53;

/**
 * A cursor over one Buffer. Reading past `end` throws NEED_MORE_DATA (the framer rewinds to its
 * checkpoint and waits); structurally bad bytes throw MalformedError; sizes over a limit throw
 * LimitError before anything is allocated. All integers are little-endian (src/IO/WriteHelpers.h).
 *
 * Views returned by `bytes()`/`stringBytes()` share memory with the input buffer.
 */
export class Reader {
  pos: number;
  end: number;
  /**
   * Set just before NEED_MORE_DATA is thrown: the buffer index the failed read needed to reach.
   * The framer waits until that many bytes are buffered before retrying, so a large atomic item
   * (a 100 MB query text) is parsed once, not once per chunk.
   */
  wantedEnd = 0;

  constructor(
    public buf: Buffer,
    pos = 0,
    end = buf.length,
    public limits: Limits = DEFAULT_LIMITS,
  ) {
    this.pos = pos;
    this.end = end;
  }

  /** Point the reader at other bytes (reused by the framer to avoid allocations). */
  reset(buf: Buffer, pos = 0, end = buf.length): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws NEED_MORE_DATA unless n more bytes are available. */
  need(n: number): void {
    if (this.pos + n > this.end) {
      this.wantedEnd = this.pos + n;
      throw NEED_MORE_DATA;
    }
  }

  /** Out of bytes with no size known: want at least one more byte than we have. */
  short(): never {
    this.wantedEnd = this.end + 1;
    throw NEED_MORE_DATA;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  u8(): number {
    if (this.pos >= this.end) return this.short();
    return this.buf[this.pos++];
  }

  i8(): number {
    const v = this.u8();
    return v > 127 ? v - 256 : v;
  }

  /** Protocol booleans: one byte, any non-zero is true (src/IO/ReadHelpers.h readBinary(bool)). */
  bool(): boolean {
    return this.u8() !== 0;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  i16(): number {
    this.need(2);
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** UInt64 as a number; values above 2^53 are rejected (used for sizes and counts). */
  u64n(what = 'UInt64'): number {
    this.need(8);
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    if (hi >= 0x200000) throw new MalformedError(`${what} above 2^53`);
    this.pos += 8;
    return hi * 0x100000000 + lo;
  }

  f32(): number {
    this.need(4);
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Unsigned little-endian integer of `bytes` bytes (16 or 32 for UInt128/UInt256). */
  uintN(bytes: number): bigint {
    this.need(bytes);
    let v = 0n;
    for (let i = bytes - 8; i >= 0; i -= 8) v = (v << 64n) | this.buf.readBigUInt64LE(this.pos + i);
    this.pos += bytes;
    return v;
  }

  /** Signed (two's complement) little-endian integer of `bytes` bytes. */
  intN(bytes: number): bigint {
    return BigInt.asIntN(bytes * 8, this.uintN(bytes));
  }

  /**
   * VarUInt (unsigned LEB128, src/IO/VarInt.h) as a number. Accepts up to 10 bytes, rejects
   * longer encodings and values that a JS number cannot hold exactly (> 2^53).
   */
  varUInt(): number {
    const buf = this.buf;
    let pos = this.pos;
    const end = this.end;
    // Fast path: one byte.
    if (pos < end) {
      const b = buf[pos];
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) return this.short();
      const b = buf[pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result > TWO_POW_53) throw new MalformedError('VarUInt above 2^53');
        this.pos = pos;
        return result;
      }
      mul *= 128;
    }
    throw new MalformedError('VarUInt longer than 10 bytes');
  }

  /** VarUInt as a bigint (full 64-bit range; bits past 64 are dropped as the server does). */
  varUIntBig(): bigint {
    let pos = this.pos;
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.end) return this.short();
      const b = this.buf[pos++];
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        this.pos = pos;
        return BigInt.asUintN(64, result);
      }
    }
    throw new MalformedError('VarUInt longer than 10 bytes');
  }

  /** Zig-zag VarInt (src/IO/VarInt.h readVarInt), used only by the legacy settings format. */
  varInt(): bigint {
    const u = this.varUIntBig();
    return (u >> 1n) ^ -(u & 1n);
  }

  /** Length of a String, checked against `max` before anything is read or allocated. */
  stringLength(max = this.limits.maxStringBytes, what = 'maxStringBytes'): number {
    const len = this.varUInt();
    if (len > max) throw new LimitError(what, len, max);
    return len;
  }

  /** A String's bytes as a view into the input. */
  stringBytes(max?: number, what?: string): Buffer {
    const len = this.stringLength(max, what);
    return this.bytes(len);
  }

  string(max?: number, what?: string): string {
    const len = this.stringLength(max, what);
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** Skip a String without decoding it. */
  skipString(max?: number, what?: string): void {
    const len = this.stringLength(max, what);
    this.skip(len);
  }

  /** n bytes as a view into the input. */
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /**
   * UUID in ClickHouse's wire order (two little-endian UInt64 halves, src/IO/ReadHelpers.h
   * readBinary(UUID)), returned in canonical text form.
   */
  uuid(): string {
    this.need(16);
    const b = this.buf;
    const p = this.pos;
    let hex = '';
    for (let i = 7; i >= 0; i--) hex += HEX[b[p + i]];
    for (let i = 15; i >= 8; i--) hex += HEX[b[p + i]];
    this.pos += 16;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** A count from the wire (VarUInt) checked against a named limit. */
  count(max: number, what: string): number {
    const n = this.varUInt();
    if (n > max) throw new LimitError(what, n, max);
    return n;
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
