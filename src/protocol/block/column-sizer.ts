import { LimitError, MalformedError, NEED_MORE_DATA, UnsupportedError } from '../errors';
import { Reader } from '../io/reader';
import { Limits } from '../limits';
import { TypeNode } from './type-parser';

/**
 * Resumable column sizer: finds where a column ends without materialising values.
 *
 * A Sizer is a generator that consumes exactly the bytes of what it measures from `input.r`. When the
 * bytes run out it yields; the driver then repoints `input.r` (new buf/pos/end, `r.pos` = first
 * unconsumed byte; bytes before it may be dropped) and calls next() again. Sizers re-read `input.r`
 * after every yield and keep only counters (never buffer positions) across a yield, so each byte is
 * examined a bounded number of times however the input is chunked.
 */
export interface SizerInput {
  r: Reader;
}
export type Sizer<T = void> = Generator<void, T, void>;

/** Consume n bytes, taking what is available now and yielding for the rest. */
export function* skipBytes(input: SizerInput, n: number): Sizer {
  for (;;) {
    const r = input.r;
    const avail = r.end - r.pos;
    if (avail >= n) {
      r.pos += n;
      return;
    }
    r.pos = r.end;
    n -= avail;
    r.wantedEnd = r.end + n; // lets the driver wait for the whole run instead of waking per chunk
    yield;
  }
}

/** Run a small bounded read; on NEED_MORE_DATA rewind and yield, then retry (O(size) per retry). */
export function* atom<T>(input: SizerInput, read: (r: Reader) => T): Sizer<T> {
  for (;;) {
    const r = input.r;
    const start = r.pos;
    try {
      return read(r);
    } catch (e) {
      if (e !== NEED_MORE_DATA) throw e;
      r.pos = start;
    }
    yield;
  }
}

/** A UInt64 count or size as a number (checked below 2^53). */
function* readU64(input: SizerInput, what: string): Sizer<number> {
  for (;;) {
    const r = input.r;
    if (r.end - r.pos >= 8) return r.u64n(what);
    r.wantedEnd = r.pos + 8;
    yield;
  }
}

const GEO_POINT: TypeNode = {
  kind: 'tuple',
  elements: [{ kind: 'float', name: 'Float64', bytes: 8 }, { kind: 'float', name: 'Float64', bytes: 8 }],
  names: null,
};
const GEO_RING: TypeNode = { kind: 'array', inner: GEO_POINT };
const GEO_POLYGON: TypeNode = { kind: 'array', inner: GEO_RING };
const GEO: Record<string, TypeNode> = {
  Point: GEO_POINT,
  Ring: GEO_RING,
  LineString: GEO_RING,
  Polygon: GEO_POLYGON,
  MultiLineString: GEO_POLYGON,
  MultiPolygon: { kind: 'array', inner: GEO_POLYGON },
};

/**
 * The type whose layout a column uses: geo types are Tuple/Array of Float64 (src/DataTypes/DataTypeCustomGeo.cpp),
 * SimpleAggregateFunction(f, T) is T, Nested(...) unflattened is Array(Tuple(...)).
 */
export function physicalType(t: TypeNode): TypeNode {
  switch (t.kind) {
    case 'geo':
      return GEO[t.name];
    case 'simpleAggregateFunction':
      return physicalType(t.inner);
    case 'nested':
      return { kind: 'array', inner: { kind: 'tuple', elements: t.fields.map((f) => f.type), names: t.fields.map((f) => f.name) } };
    default:
      return t;
  }
}

/** Bytes per value of a fixed-width type, or -1 (src/DataTypes/Serializations/SerializationNumber.cpp etc.). */
export function fixedWidth(t: TypeNode): number {
  switch (t.kind) {
    case 'int':
    case 'float':
    case 'decimal':
    case 'enum':
      return t.bytes;
    case 'bool':
    case 'nothing': // SerializationNothing writes one placeholder byte per row ('0'; ch-go writes 0x00)
      return 1;
    case 'date':
      return 2;
    case 'date32':
    case 'dateTime':
    case 'ipv4':
    case 'time':
      return 4;
    case 'dateTime64':
    case 'interval':
    case 'time64':
      return 8;
    case 'uuid':
    case 'ipv6':
      return 16;
    case 'fixedString':
      return t.length;
    default:
      return -1;
  }
}

/** Throws UnsupportedError for types whose column layout this codec cannot measure. */
export function checkSupported(t: TypeNode): void {
  switch (t.kind) {
    case 'aggregateFunction':
      throw new UnsupportedError(
        `AggregateFunction(${t.fn}) column: opaque state of ${t.fn}; cannot be framed without that function's serialization`,
      );
    case 'variant':
    case 'dynamic':
    case 'json':
      throw new UnsupportedError(
        `${t.kind === 'json' ? t.name : t.kind === 'variant' ? 'Variant' : 'Dynamic'} column: not sent below revision 54473 ` +
          '(V2) and its V1 layout is not specified; cannot be framed',
      );
    case 'nullable':
    case 'array':
    case 'lowCardinality':
    case 'simpleAggregateFunction':
      return checkSupported(t.inner);
    case 'map':
      checkSupported(t.key);
      return checkSupported(t.value);
    case 'tuple':
      return t.elements.forEach(checkSupported);
    case 'nested':
      return t.fields.forEach((f) => checkSupported(f.type));
    default:
  }
}

/**
 * Measure one column of `rows` values: prefixes of all nested parts first, then the data streams
 * (src/Formats/NativeReader.cpp readData). Zero rows means no bytes at all, as in a block.
 */
export function* skipColumn(input: SizerInput, type: TypeNode, rows: number, rev: number, limits: Limits): Sizer {
  void rev; // layouts up to 54460 do not depend on the revision (String changes only at 54492)
  checkSupported(type);
  if (rows === 0) return;
  if (rows > limits.maxRows) throw new LimitError('maxRows', rows, limits.maxRows);
  yield* skipPrefix(input, type);
  yield* skipData(input, type, rows, limits);
}

/** Serialization state prefix; only LowCardinality has one (SerializationLowCardinality::serializeBinaryBulkStatePrefix). */
function* skipPrefix(input: SizerInput, t: TypeNode): Sizer {
  t = physicalType(t);
  switch (t.kind) {
    case 'lowCardinality': {
      const version = yield* readU64(input, 'LowCardinality key version');
      // KeysSerializationVersion::SharedDictionariesWithAdditionalKeys = 1 is the only version
      if (version !== 1) throw new MalformedError(`LowCardinality key version ${version}, expected 1`);
      return;
    }
    case 'nullable':
    case 'array':
      return yield* skipPrefix(input, t.inner);
    case 'map':
      yield* skipPrefix(input, t.key);
      return yield* skipPrefix(input, t.value);
    case 'tuple':
      for (const e of t.elements) yield* skipPrefix(input, e);
      return;
    default:
  }
}

function* skipData(input: SizerInput, t: TypeNode, rows: number, limits: Limits): Sizer {
  t = physicalType(t);
  const width = fixedWidth(t);
  if (width > 0) {
    const n = rows * width;
    if (n > limits.maxBlockBytes) throw new LimitError('maxBlockBytes', n, limits.maxBlockBytes);
    return yield* skipBytes(input, n);
  }
  switch (t.kind) {
    case 'string':
      return yield* skipStrings(input, rows, limits.maxStringBytes);
    case 'nullable':
      yield* skipBytes(input, rows); // null map, one UInt8 per row
      return yield* skipData(input, t.inner, rows, limits);
    case 'array':
    case 'map': {
      // UInt64 cumulative end offsets; only the last one (the nested size) matters here.
      let nested = 0;
      if (rows > 0) {
        yield* skipBytes(input, (rows - 1) * 8);
        nested = yield* readU64(input, 'Array offset');
        if (nested > limits.maxArrayElements) throw new LimitError('maxArrayElements', nested, limits.maxArrayElements);
      }
      if (t.kind === 'array') return yield* skipData(input, t.inner, nested, limits);
      yield* skipData(input, t.key, nested, limits);
      return yield* skipData(input, t.value, nested, limits);
    }
    case 'tuple':
      for (const e of t.elements) yield* skipData(input, e, rows, limits);
      return;
    case 'lowCardinality':
      return yield* skipLowCardinality(input, t.inner, rows, limits);
    default:
      checkSupported(t);
      throw new UnsupportedError(`cannot measure column of kind ${t.kind}`);
  }
}

/** LowCardinality serialization-type bits (SerializationLowCardinality.cpp IndexesSerializationType). */
export const LcFlag = {
  NeedGlobalDictionary: 0x100,
  HasAdditionalKeys: 0x200,
  NeedUpdateDictionary: 0x400,
} as const;

/** Dictionary type of LowCardinality(T): T with Nullable removed. */
export function lcDictionaryType(inner: TypeNode): TypeNode {
  return inner.kind === 'nullable' ? inner.inner : inner;
}

/** Parse a LowCardinality serialization type: index width in bytes; rejects a global dictionary. */
export function lcIndexWidth(serializationType: number): number {
  const widthCode = serializationType % 256;
  if (widthCode > 3) throw new MalformedError(`LowCardinality index type ${widthCode}`);
  const flags = serializationType - widthCode;
  if (flags & LcFlag.NeedGlobalDictionary) {
    throw new MalformedError('LowCardinality with NeedGlobalDictionary is never sent in Native format');
  }
  if (!(flags & LcFlag.HasAdditionalKeys)) throw new MalformedError('LowCardinality block without additional keys');
  return 1 << widthCode;
}

/**
 * LowCardinality data (SerializationLowCardinality::deserializeBinaryBulkWithMultipleStreams): groups of
 * UInt64 serialization type, UInt64 key count + keys, UInt64 row count + indexes, until `rows` are covered.
 * Nothing at all for zero rows.
 */
function* skipLowCardinality(input: SizerInput, inner: TypeNode, rows: number, limits: Limits): Sizer {
  const dict = lcDictionaryType(inner);
  let left = rows;
  while (left > 0) {
    const width = lcIndexWidth(yield* readU64(input, 'LowCardinality serialization type'));
    const keys = yield* readU64(input, 'LowCardinality key count');
    if (keys > limits.maxArrayElements) throw new LimitError('maxArrayElements', keys, limits.maxArrayElements);
    yield* skipData(input, dict, keys, limits);
    const n = yield* readU64(input, 'LowCardinality row count');
    if (n === 0 || n > left) throw new MalformedError(`LowCardinality index count ${n} with ${left} rows left`);
    yield* skipBytes(input, n * width);
    left -= n;
  }
}

/**
 * `rows` Strings, each VarUInt length + bytes (src/DataTypes/Serializations/SerializationString.cpp, < 54492).
 * The hot loop: VarUInt decoded inline, no allocation or try/catch per value; a value longer than the
 * bytes at hand is consumed partially.
 */
export function* skipStrings(input: SizerInput, rows: number, maxStringBytes: number): Sizer {
  let left = rows;
  while (left > 0) {
    left = scanStrings(input.r, left, maxStringBytes);
    const partial = scannedPartial;
    if (partial > 0) yield* skipBytes(input, partial); // rest of a value split across chunks
    else if (left > 0) yield;
  }
}

/** Bytes of the last value scanStrings consumed only partly (0: none); read right after the call. */
let scannedPartial = 0;

/**
 * The hot loop of skipStrings over the bytes at hand: consumes up to `left` values (the last one perhaps partly, its
 * missing bytes left in scannedPartial), moves r.pos, returns the values left. A header split across the end of the
 * bytes is left unconsumed.
 */
function scanStrings(r: Reader, left: number, maxStringBytes: number): number {
  const buf = r.buf;
  const end = r.end;
  let pos = r.pos;
  let partial = 0;
  while (left > 0 && pos < end) {
    let b = buf[pos];
    let len: number;
    let p = pos + 1;
    if (b < 0x80) len = b;
    else {
      len = b & 0x7f;
      let mul = 128;
      let i = 1;
      for (; i < 10 && p < end; i++) {
        b = buf[p++];
        len += (b & 0x7f) * mul;
        if (b < 0x80) break;
        mul *= 128;
      }
      if (b >= 0x80) {
        if (i >= 10) throw new MalformedError('VarUInt longer than 10 bytes');
        break; // header split across chunks: retry it from `pos` with more bytes
      }
    }
    if (len > maxStringBytes) throw new LimitError('maxStringBytes', len, maxStringBytes);
    left--;
    if (p + len <= end) {
      pos = p + len;
    } else {
      partial = p + len - end;
      pos = end;
      break;
    }
  }
  r.pos = pos;
  scannedPartial = partial;
  return left;
}

/**
 * skipColumn in one synchronous step for the layouts most results are made of (fixed-width and String values, no
 * prefix) when every byte is at hand: true with r.pos past the column, or false (r.pos then undefined: the caller
 * rewinds) and the caller runs skipColumn. Same limits as skipColumn. No generator: sizeBlockNow's per-column step.
 */
export function skipColumnNow(r: Reader, type: TypeNode, rows: number, limits: Limits): boolean {
  if (rows === 0) return true;
  const t = physicalType(type);
  const width = fixedWidth(t);
  if (width > 0) {
    const n = rows * width;
    if (n > limits.maxBlockBytes) throw new LimitError('maxBlockBytes', n, limits.maxBlockBytes);
    if (r.end - r.pos < n) return false;
    r.pos += n;
    return true;
  }
  if (t.kind !== 'string') return false;
  return scanStrings(r, rows, limits.maxStringBytes) === 0 && scannedPartial === 0;
}
