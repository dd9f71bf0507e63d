import { LimitError, MalformedError } from '../errors';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { checkSupported, fixedWidth, LcFlag, lcDictionaryType, lcIndexWidth, physicalType } from './column-sizer';
import { TypeNode } from './type-parser';

/**
 * Plain (non-resumable) column value codec, for tests, tools and a small client; the proxy itself only
 * measures columns (column-sizer.ts). JS mapping: ints up to 32 bits → number, 64+ bits → bigint, floats →
 * number, String → string (decoded as UTF-8: non-UTF-8 bytes are replaced, so such values do not round-trip),
 * FixedString → Buffer, Date/Date32/DateTime/Time → number, DateTime64/Time64/Interval → bigint, Decimal →
 * bigint (unscaled), UUID → canonical string, IPv4 → number, IPv6 → 16-byte Buffer, Enum → number, Bool →
 * boolean, Nullable → null or value, Array → array, Map → array of [key, value], Tuple → array,
 * LowCardinality → its values, Nothing → null.
 */
export function decodeColumn(r: Reader, type: TypeNode, rows: number, rev: number): unknown[] {
  void rev; // layouts up to 54460 do not depend on the revision
  checkSupported(type);
  if (rows === 0) return [];
  if (rows > r.limits.maxRows) throw new LimitError('maxRows', rows, r.limits.maxRows);
  decodePrefix(r, type);
  return decodeData(r, type, rows);
}

/** Encode `values` as one column (prefix + data); nothing for zero values, as in a block. */
export function encodeColumn(w: Writer, type: TypeNode, values: unknown[], rev: number): void {
  void rev;
  checkSupported(type);
  if (values.length === 0) return;
  encodePrefix(w, type);
  encodeData(w, type, values);
}

function decodePrefix(r: Reader, t: TypeNode): void {
  t = physicalType(t);
  if (t.kind === 'lowCardinality') {
    const v = r.u64n('LowCardinality key version');
    if (v !== 1) throw new MalformedError(`LowCardinality key version ${v}, expected 1`);
  } else if (t.kind === 'nullable' || t.kind === 'array') decodePrefix(r, t.inner);
  else if (t.kind === 'map') {
    decodePrefix(r, t.key);
    decodePrefix(r, t.value);
  } else if (t.kind === 'tuple') t.elements.forEach((e) => decodePrefix(r, e));
}

function encodePrefix(w: Writer, t: TypeNode): void {
  t = physicalType(t);
  if (t.kind === 'lowCardinality') w.u64(1);
  else if (t.kind === 'nullable' || t.kind === 'array') encodePrefix(w, t.inner);
  else if (t.kind === 'map') {
    encodePrefix(w, t.key);
    encodePrefix(w, t.value);
  } else if (t.kind === 'tuple') t.elements.forEach((e) => encodePrefix(w, e));
}

const F32 = Buffer.alloc(4);

function readOne(r: Reader, t: TypeNode): unknown {
  switch (t.kind) {
    case 'int':
      if (t.bytes === 1) return t.signed ? r.i8() : r.u8();
      if (t.bytes === 2) return t.signed ? r.i16() : r.u16();
      if (t.bytes === 4) return t.signed ? r.i32() : r.u32();
      if (t.bytes === 8) return t.signed ? r.i64() : r.u64();
      return t.signed ? r.intN(t.bytes) : r.uintN(t.bytes);
    case 'float':
      if (t.bytes === 4) return r.f32();
      if (t.bytes === 8) return r.f64();
      F32.writeUInt32LE(r.u16() * 0x10000); // BFloat16 = upper half of a Float32
      return F32.readFloatLE(0);
    case 'bool': return r.u8() !== 0;
    case 'date': return r.u16();
    case 'date32':
    case 'time':
      return r.i32();
    case 'dateTime':
    case 'ipv4':
      return r.u32();
    case 'dateTime64':
    case 'time64':
    case 'interval':
      return r.i64();
    case 'decimal':
      return t.bytes === 4 ? BigInt(r.i32()) : t.bytes === 8 ? r.i64() : r.intN(t.bytes);
    case 'uuid': return r.uuid();
    case 'ipv6': return Buffer.from(r.bytes(16));
    case 'fixedString': return Buffer.from(r.bytes(t.length));
    case 'enum': return t.bytes === 1 ? r.i8() : r.i16();
    case 'nothing':
      r.u8();
      return null;
    case 'string': return r.string(r.limits.maxStringBytes, 'maxStringBytes');
    default: throw new MalformedError(`not a scalar type: ${t.kind}`);
  }
}

function decodeData(r: Reader, t: TypeNode, rows: number): unknown[] {
  t = physicalType(t);
  const width = fixedWidth(t);
  // Check the bytes exist before building arrays sized by a count from the wire.
  if (width > 0) r.need(rows * width);
  const out: unknown[] = [];
  switch (t.kind) {
    case 'nullable': {
      r.need(rows);
      const nulls = r.bytes(rows);
      const inner = decodeData(r, t.inner, rows);
      for (let i = 0; i < rows; i++) out.push(nulls[i] ? null : inner[i]);
      return out;
    }
    case 'array':
    case 'map': {
      r.need(rows * 8);
      const offsets: number[] = [];
      let prev = 0;
      for (let i = 0; i < rows; i++) {
        const o = r.u64n('Array offset');
        if (o < prev) throw new MalformedError(`Array offsets decrease: ${o} after ${prev}`);
        if (o > r.limits.maxArrayElements) throw new LimitError('maxArrayElements', o, r.limits.maxArrayElements);
        offsets.push((prev = o));
      }
      let items: unknown[];
      if (t.kind === 'array') items = decodeData(r, t.inner, prev);
      else {
        const keys = decodeData(r, t.key, prev);
        const vals = decodeData(r, t.value, prev);
        items = keys.map((k, i) => [k, vals[i]]);
      }
      let start = 0;
      for (const o of offsets) {
        out.push(items.slice(start, o));
        start = o;
      }
      return out;
    }
    case 'tuple': {
      const cols = t.elements.map((e) => decodeData(r, e, rows));
      for (let i = 0; i < rows; i++) out.push(cols.map((c) => c[i]));
      return out;
    }
    case 'lowCardinality':
      return decodeLowCardinality(r, t.inner, rows);
    default:
      if (t.kind === 'string') r.need(rows);
      for (let i = 0; i < rows; i++) out.push(readOne(r, t));
      return out;
  }
}

function decodeLowCardinality(r: Reader, inner: TypeNode, rows: number): unknown[] {
  const out: unknown[] = [];
  const nullable = inner.kind === 'nullable';
  while (out.length < rows) {
    const width = lcIndexWidth(r.u64n('LowCardinality serialization type'));
    const numKeys = r.u64n('LowCardinality key count');
    if (numKeys > r.limits.maxArrayElements) throw new LimitError('maxArrayElements', numKeys, r.limits.maxArrayElements);
    const keys = decodeData(r, lcDictionaryType(inner), numKeys);
    const n = r.u64n('LowCardinality row count');
    if (n === 0 || n > rows - out.length) throw new MalformedError(`LowCardinality index count ${n}`);
    r.need(n * width);
    for (let i = 0; i < n; i++) {
      const idx = width === 1 ? r.u8() : width === 2 ? r.u16() : width === 4 ? r.u32() : r.u64n('LowCardinality index');
      if (idx >= numKeys) throw new MalformedError(`LowCardinality index ${idx} >= ${numKeys} keys`);
      out.push(nullable && idx === 0 ? null : keys[idx]);
    }
  }
  return out;
}

/** The value ClickHouse stores for NULL rows and dictionary slot 0 (IDataType::getDefault()). */
export function defaultValue(t: TypeNode): unknown {
  t = physicalType(t);
  switch (t.kind) {
    case 'int': return t.bytes <= 4 ? 0 : 0n;
    case 'float': case 'date': case 'date32': case 'dateTime': case 'time': case 'ipv4': return 0;
    case 'dateTime64': case 'time64': case 'interval': case 'decimal': return 0n;
    case 'bool': return false;
    case 'string': return '';
    case 'fixedString': return Buffer.alloc(t.length);
    case 'uuid': return '00000000-0000-0000-0000-000000000000';
    case 'ipv6': return Buffer.alloc(16);
    case 'enum': return t.values.length ? t.values[0].value : 0;
    case 'tuple': return t.elements.map(defaultValue);
    case 'array': case 'map': return [];
    case 'lowCardinality': return defaultValue(t.inner);
    default: return null;
  }
}

function writeOne(w: Writer, t: TypeNode, v: unknown): void {
  switch (t.kind) {
    case 'int':
      if (t.bytes === 1) w.u8(Number(v));
      else if (t.bytes === 2) w.u16(Number(v) & 0xffff);
      else if (t.bytes === 4) w.u32(Number(v) >>> 0);
      else w.intN(BigInt(v as bigint), t.bytes);
      return;
    case 'float':
      if (t.bytes === 4) w.f32(v as number);
      else if (t.bytes === 8) w.f64(v as number);
      else {
        F32.writeFloatLE(v as number);
        w.u16(F32.readUInt32LE(0) >>> 16);
      }
      return;
    case 'bool': w.u8(v ? 1 : 0); return;
    case 'date': w.u16(v as number); return;
    case 'date32': case 'time': w.i32(v as number); return;
    case 'dateTime': case 'ipv4': w.u32(v as number); return;
    case 'dateTime64': case 'time64': case 'interval': w.i64(v as bigint); return;
    case 'decimal':
      // Writer.intN writes whole 64-bit limbs, so 4- and 8-byte decimals go through i32/i64.
      if (t.bytes === 4) w.i32(Number(v));
      else if (t.bytes === 8) w.i64(v as bigint);
      else w.intN(BigInt(v as bigint), t.bytes);
      return;
    case 'uuid': w.uuid(v as string); return;
    case 'ipv6': writeFixed(w, v, 16); return;
    case 'fixedString': writeFixed(w, v, t.length); return;
    case 'enum': if (t.bytes === 1) w.i8(v as number); else w.i16(v as number); return;
    case 'nothing': w.u8(0x30); return; // the server writes the character '0' per row (SerializationNothing.cpp); readers ignore it
    case 'string': w.string(v as string | Buffer); return;
    default: throw new TypeError(`not a scalar type: ${t.kind}`);
  }
}

/** Exactly n bytes, right-padded with zero bytes (SerializationFixedString). */
function writeFixed(w: Writer, v: unknown, n: number): void {
  const b = typeof v === 'string' ? Buffer.from(v) : (v as Uint8Array);
  if (b.length > n) throw new RangeError(`value of ${b.length} bytes for FixedString(${n})`);
  w.raw(b);
  for (let i = b.length; i < n; i++) w.u8(0);
}

function encodeData(w: Writer, t: TypeNode, values: unknown[]): void {
  t = physicalType(t);
  switch (t.kind) {
    case 'nullable': {
      for (const v of values) w.u8(v === null || v === undefined ? 1 : 0);
      const d = defaultValue(t.inner);
      return encodeData(w, t.inner, values.map((v) => (v === null || v === undefined ? d : v)));
    }
    case 'array':
    case 'map': {
      let n = 0;
      for (const v of values) w.u64((n += (v as unknown[]).length));
      const items = (values as unknown[][]).flat(1);
      if (t.kind === 'array') return encodeData(w, t.inner, items);
      encodeData(w, t.key, items.map((kv) => (kv as unknown[])[0]));
      return encodeData(w, t.value, items.map((kv) => (kv as unknown[])[1]));
    }
    case 'tuple':
      return t.elements.forEach((e, i) => encodeData(w, e, values.map((v) => (v as unknown[])[i])));
    case 'lowCardinality':
      return encodeLowCardinality(w, t.inner, values);
    default:
      for (const v of values) writeOne(w, t, v);
  }
}

function valueKey(v: unknown): string {
  if (typeof v === 'bigint') return `n${v}`;
  if (v instanceof Uint8Array) return `b${Buffer.from(v).toString('hex')}`;
  if (typeof v === 'number' && Object.is(v, -0)) return 'd-0';
  return `${typeof v}:${String(v)}`;
}

/**
 * One dictionary per block, default value at index 0 (and for Nullable: NULL at 0, default at 1),
 * UInt8..UInt64 indexes by key count, flags HasAdditionalKeys | NeedUpdateDictionary (SerializationLowCardinality.cpp).
 */
function encodeLowCardinality(w: Writer, inner: TypeNode, values: unknown[]): void {
  if (values.length === 0) return; // nothing for an empty slice
  const dict = lcDictionaryType(inner);
  const nullable = inner.kind === 'nullable';
  const def = defaultValue(dict);
  const keys: unknown[] = nullable ? [def, def] : [def];
  const index = new Map<string, number>([[valueKey(def), keys.length - 1]]);
  const idx = values.map((v) => {
    if (v === null || v === undefined) {
      if (!nullable) throw new TypeError('NULL in a non-Nullable LowCardinality column');
      return 0;
    }
    const k = valueKey(v);
    let i = index.get(k);
    if (i === undefined) {
      i = keys.push(v) - 1;
      index.set(k, i);
    }
    return i;
  });
  const code = keys.length <= 0x100 ? 0 : keys.length <= 0x10000 ? 1 : 2;
  w.u64(code | LcFlag.HasAdditionalKeys | LcFlag.NeedUpdateDictionary);
  w.u64(keys.length);
  encodeData(w, dict, keys);
  w.u64(values.length);
  for (const i of idx) {
    if (code === 0) w.u8(i);
    else if (code === 1) w.u16(i);
    else w.u32(i);
  }
}
