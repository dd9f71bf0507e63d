/**
 * A growable output buffer: little-endian fixed-width integers, VarUInt, length-prefixed Strings.
 * Used for the packets the proxy authors (its Hello, rewritten Query packets, Exceptions, cache
 * replays) and by tests; forwarded bytes are never re-encoded.
 */
export class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.pos;
  }

  /** Make room for n more bytes (grows ~1.5x, never in place over bytes already handed out). */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = Math.max(64, Math.floor(this.buf.length * 1.5));
    while (size < need) size = Math.floor(size * 1.5) + 1;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  i8(v: number): this {
    return this.u8(v & 0xff);
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }

  i16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  i32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: bigint | number): this {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), this.pos);
    this.pos += 8;
    return this;
  }

  i64(v: bigint | number): this {
    this.ensure(8);
    this.buf.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), this.pos);
    this.pos += 8;
    return this;
  }

  f32(v: number): this {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  /** Little-endian integer of `bytes` bytes (two's complement for negatives). */
  intN(v: bigint, bytes: number): this {
    this.ensure(bytes);
    let u = BigInt.asUintN(bytes * 8, v);
    for (let i = 0; i < bytes; i += 8) {
      this.buf.writeBigUInt64LE(u & 0xffffffffffffffffn, this.pos + i);
      u >>= 64n;
    }
    this.pos += bytes;
    return this;
  }

  /** VarUInt (unsigned LEB128, src/IO/VarInt.h writeVarUInt). */
  varUInt(v: number | bigint): this {
    if (typeof v === 'number' && v < 0x80 && v >= 0) {
      this.ensure(1);
      this.buf[this.pos++] = v;
      return this;
    }
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
    return this;
  }

  /** Zig-zag VarInt (legacy settings format). */
  varInt(v: bigint | number): this {
    const x = BigInt.asIntN(64, BigInt(v));
    return this.varUInt(BigInt.asUintN(64, (x << 1n) ^ (x >> 63n)));
  }

  string(s: string | Buffer | Uint8Array): this {
    if (typeof s === 'string') {
      const len = Buffer.byteLength(s);
      this.varUInt(len);
      this.ensure(len);
      this.buf.write(s, this.pos, 'utf8');
      this.pos += len;
      return this;
    }
    this.varUInt(s.length);
    return this.raw(s);
  }

  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** UUID text → ClickHouse wire order (two little-endian UInt64 halves). */
  uuid(s: string): this {
    const hex = s.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`not a UUID: ${s}`);
    this.ensure(16);
    for (let i = 0; i < 8; i++) this.buf[this.pos + 7 - i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    for (let i = 0; i < 8; i++) this.buf[this.pos + 15 - i] = parseInt(hex.slice(16 + i * 2, 18 + i * 2), 16);
    this.pos += 16;
    return this;
  }

  /** Reserve n bytes to patch later (e.g. a compressed-frame header); returns their offset. */
  reserve(n: number): number {
    this.ensure(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** Direct access for patching reserved bytes. */
  get buffer(): Buffer {
    return this.buf;
  }

  /** A copy of what was written (safe to keep while the writer is reused). */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** A view of what was written (valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  clear(): void {
    this.pos = 0;
  }
}
