import { LimitError, UnknownTypeError } from '../errors';
import { DEFAULT_LIMITS, Limits } from '../limits';

/**
 * ClickHouse type names (as produced by IDataType::getName(), src/DataTypes/*) parsed into an AST.
 * The AST drives the column sizer and the value codec; `typeToString` gives the canonical spelling.
 */
export type TypeNode =
  | { kind: 'int'; name: IntName; bytes: number; signed: boolean }
  | { kind: 'float'; name: 'Float32' | 'Float64' | 'BFloat16'; bytes: number }
  | { kind: 'bool' }
  | { kind: 'string' }
  | { kind: 'fixedString'; length: number }
  | { kind: 'date' }
  | { kind: 'date32' }
  | { kind: 'dateTime'; timezone: string | null }
  | { kind: 'dateTime64'; precision: number; timezone: string | null }
  | { kind: 'time' }
  | { kind: 'time64'; precision: number }
  | { kind: 'decimal'; precision: number; scale: number; bytes: number }
  | { kind: 'uuid' }
  | { kind: 'ipv4' }
  | { kind: 'ipv6' }
  | { kind: 'enum'; bytes: 1 | 2; values: { name: string; value: number }[] }
  | { kind: 'nullable'; inner: TypeNode }
  | { kind: 'array'; inner: TypeNode }
  | { kind: 'map'; key: TypeNode; value: TypeNode }
  | { kind: 'tuple'; elements: TypeNode[]; names: string[] | null }
  | { kind: 'nested'; fields: { name: string; type: TypeNode }[] }
  | { kind: 'lowCardinality'; inner: TypeNode }
  | { kind: 'simpleAggregateFunction'; fn: string; inner: TypeNode }
  | { kind: 'aggregateFunction'; fn: string; args: string }
  | { kind: 'nothing' }
  | { kind: 'interval'; unit: IntervalUnit }
  | { kind: 'geo'; name: GeoName }
  | { kind: 'variant'; variants: TypeNode[] }
  | { kind: 'dynamic'; args: string | null }
  | { kind: 'json'; name: 'JSON' | 'Object'; args: string | null };

export type IntName =
  | 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64' | 'UInt128' | 'UInt256'
  | 'Int8' | 'Int16' | 'Int32' | 'Int64' | 'Int128' | 'Int256';
export type GeoName = 'Point' | 'Ring' | 'Polygon' | 'MultiPolygon' | 'LineString' | 'MultiLineString';
export type IntervalUnit =
  | 'Nanosecond' | 'Microsecond' | 'Millisecond' | 'Second' | 'Minute' | 'Hour'
  | 'Day' | 'Week' | 'Month' | 'Quarter' | 'Year';

const INTS: Record<IntName, { bytes: number; signed: boolean }> = {
  UInt8: { bytes: 1, signed: false }, UInt16: { bytes: 2, signed: false }, UInt32: { bytes: 4, signed: false },
  UInt64: { bytes: 8, signed: false }, UInt128: { bytes: 16, signed: false }, UInt256: { bytes: 32, signed: false },
  Int8: { bytes: 1, signed: true }, Int16: { bytes: 2, signed: true }, Int32: { bytes: 4, signed: true },
  Int64: { bytes: 8, signed: true }, Int128: { bytes: 16, signed: true }, Int256: { bytes: 32, signed: true },
};
const GEO: readonly string[] = ['Point', 'Ring', 'Polygon', 'MultiPolygon', 'LineString', 'MultiLineString'];
const UNITS: readonly string[] = [
  'Nanosecond', 'Microsecond', 'Millisecond', 'Second', 'Minute', 'Hour', 'Day', 'Week', 'Month', 'Quarter', 'Year',
];
/** Types without arguments. */
const PLAIN: Record<string, TypeNode> = {
  Float32: { kind: 'float', name: 'Float32', bytes: 4 },
  Float64: { kind: 'float', name: 'Float64', bytes: 8 },
  BFloat16: { kind: 'float', name: 'BFloat16', bytes: 2 },
  Bool: { kind: 'bool' },
  String: { kind: 'string' },
  Date: { kind: 'date' },
  Date32: { kind: 'date32' },
  UUID: { kind: 'uuid' },
  IPv4: { kind: 'ipv4' },
  IPv6: { kind: 'ipv6' },
  Nothing: { kind: 'nothing' },
  Time: { kind: 'time' },
};

/** Decimal storage width from its precision (src/DataTypes/DataTypesDecimal.h). */
export function decimalBytes(precision: number): number {
  return precision <= 9 ? 4 : precision <= 18 ? 8 : precision <= 38 ? 16 : 32;
}

/** Parse a ClickHouse type name. Throws UnknownTypeError on bad or unknown names, LimitError past maxDepth. */
export function parseType(name: string, limits: Pick<Limits, 'maxDepth'> = DEFAULT_LIMITS): TypeNode {
  const p = new Parser(name, limits.maxDepth);
  const node = p.type(1);
  p.ws();
  if (p.pos !== name.length) p.fail('trailing characters');
  return node;
}

class Parser {
  pos = 0;
  constructor(readonly s: string, readonly maxDepth: number) {}

  fail(why: string): never {
    throw new UnknownTypeError(`cannot parse type '${this.s.slice(0, 200)}' at ${this.pos}: ${why}`);
  }

  ws(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos])) this.pos++;
  }

  peek(): string {
    this.ws();
    return this.s[this.pos] ?? '';
  }

  expect(c: string): void {
    if (this.peek() !== c) this.fail(`expected '${c}'`);
    this.pos++;
  }

  ident(): string {
    this.ws();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.pos, this.pos + 256));
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }

  /** An element name: plain identifier or `back-quoted` (src/Common/quoteString.cpp backQuoteIfNeed). */
  elementName(): string {
    if (this.peek() === '`') return this.quoted('`');
    return this.ident();
  }

  int(): number {
    this.ws();
    const m = /^-?\d+/.exec(this.s.slice(this.pos, this.pos + 32));
    if (!m) this.fail('expected a number');
    this.pos += m[0].length;
    const v = Number(m[0]);
    if (!Number.isSafeInteger(v)) this.fail('number out of range');
    return v;
  }

  /** A quoted string with backslash escapes or doubled quotes (src/IO/ReadHelpers.cpp readQuotedString). */
  quoted(q: string): string {
    if (this.peek() !== q) this.fail(`expected ${q}`);
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.s.length) this.fail('unterminated quoted string');
      const c = this.s[this.pos++];
      if (c === q) {
        if (this.s[this.pos] === q) {
          out += q;
          this.pos++;
          continue;
        }
        return out;
      }
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.pos++];
      if (e === undefined) this.fail('unterminated escape');
      if (e === 'x') {
        const hex = this.s.slice(this.pos, this.pos + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail('bad \\x escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 2;
      } else out += ESCAPES[e] ?? e;
    }
  }

  /** Raw text of the argument list up to the matching ')', quotes respected; the ')' is consumed. */
  rawArgs(): string {
    const start = this.pos;
    let depth = 0;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c === "'" || c === '`' || c === '"') {
        this.quoted(c);
        continue;
      }
      if (c === '(') depth++;
      else if (c === ')') {
        if (depth === 0) {
          const text = this.s.slice(start, this.pos).trim();
          this.pos++;
          return text;
        }
        depth--;
      }
      this.pos++;
    }
    return this.fail('unbalanced parentheses');
  }

  list<T>(item: () => T): T[] {
    const out: T[] = [item()];
    while (this.peek() === ',') {
      this.pos++;
      out.push(item());
    }
    this.expect(')');
    return out;
  }

  /** `name Type` or just `Type` inside Tuple(...): a name is followed by another identifier. */
  tupleElement(depth: number): { name: string | null; type: TypeNode } {
    const save = this.pos;
    if (this.peek() === '`') {
      const name = this.elementName();
      return { name, type: this.type(depth) };
    }
    const first = this.ident();
    const next = this.peek();
    if (/[A-Za-z_`]/.test(next)) return { name: first, type: this.type(depth) };
    this.pos = save;
    return { name: null, type: this.type(depth) };
  }

  type(depth: number): TypeNode {
    if (depth > this.maxDepth) throw new LimitError('maxDepth', depth, this.maxDepth);
    const name = this.ident();
    const hasArgs = this.peek() === '(';
    if (hasArgs) this.pos++;
    const d = depth + 1;
    if (!hasArgs) {
      const plain = PLAIN[name];
      if (plain) return plain;
      if (name in INTS) return { kind: 'int', name: name as IntName, ...INTS[name as IntName] };
      if (name === 'DateTime') return { kind: 'dateTime', timezone: null };
      if (name === 'Dynamic') return { kind: 'dynamic', args: null };
      if (name === 'JSON') return { kind: 'json', name: 'JSON', args: null };
      if (GEO.includes(name)) return { kind: 'geo', name: name as GeoName };
      if (name.startsWith('Interval') && UNITS.includes(name.slice(8))) {
        return { kind: 'interval', unit: name.slice(8) as IntervalUnit };
      }
      if (name === 'Tuple') return this.fail('Tuple needs elements');
      return this.unknown(name);
    }
    switch (name) {
      case 'FixedString': {
        const n = this.int();
        this.expect(')');
        if (n < 1) this.fail('FixedString length must be positive');
        return { kind: 'fixedString', length: n };
      }
      case 'DateTime': {
        const tz = this.quoted("'");
        this.expect(')');
        return { kind: 'dateTime', timezone: tz };
      }
      case 'DateTime64': {
        const precision = this.int();
        let tz: string | null = null;
        if (this.peek() === ',') {
          this.pos++;
          tz = this.quoted("'");
        }
        this.expect(')');
        if (precision < 0 || precision > 9) this.fail('DateTime64 precision must be 0..9');
        return { kind: 'dateTime64', precision, timezone: tz };
      }
      case 'Time64': {
        const precision = this.int();
        this.expect(')');
        if (precision < 0 || precision > 9) this.fail('Time64 precision must be 0..9');
        return { kind: 'time64', precision };
      }
      case 'Decimal': {
        const precision = this.int();
        let scale = 0;
        if (this.peek() === ',') {
          this.pos++;
          scale = this.int();
        }
        this.expect(')');
        return this.decimal(precision, scale);
      }
      case 'Decimal32':
      case 'Decimal64':
      case 'Decimal128':
      case 'Decimal256': {
        const scale = this.int();
        this.expect(')');
        const precision = { Decimal32: 9, Decimal64: 18, Decimal128: 38, Decimal256: 76 }[name];
        return this.decimal(precision, scale);
      }
      case 'Enum8':
      case 'Enum16': {
        const values = this.list(() => {
          const n = this.quoted("'");
          this.expect('=');
          return { name: n, value: this.int() };
        });
        const bytes = name === 'Enum8' ? 1 : 2;
        const lim = bytes === 1 ? 128 : 32768;
        for (const v of values) if (v.value < -lim || v.value >= lim) this.fail(`${name} value ${v.value} out of range`);
        return { kind: 'enum', bytes, values };
      }
      case 'Nullable':
      case 'Array':
      case 'LowCardinality': {
        const inner = this.type(d);
        this.expect(')');
        if (name === 'Nullable') return { kind: 'nullable', inner };
        if (name === 'Array') return { kind: 'array', inner };
        return { kind: 'lowCardinality', inner };
      }
      case 'Map': {
        const key = this.type(d);
        this.expect(',');
        const value = this.type(d);
        this.expect(')');
        return { kind: 'map', key, value };
      }
      case 'Tuple': {
        if (this.peek() === ')') this.fail('empty Tuple');
        const els = this.list(() => this.tupleElement(d));
        const named = els.every((e) => e.name !== null);
        if (!named && els.some((e) => e.name !== null)) this.fail('Tuple mixes named and unnamed elements');
        return { kind: 'tuple', elements: els.map((e) => e.type), names: named ? els.map((e) => e.name as string) : null };
      }
      case 'Nested': {
        const fields = this.list(() => {
          const n = this.elementName();
          return { name: n, type: this.type(d) };
        });
        return { kind: 'nested', fields };
      }
      case 'Variant':
        return { kind: 'variant', variants: this.list(() => this.type(d)) };
      case 'SimpleAggregateFunction': {
        const fnStart = this.pos;
        this.ident();
        if (this.peek() === '(') {
          this.pos++;
          this.rawArgs();
        }
        const fn = this.s.slice(fnStart, this.pos).trim();
        this.expect(',');
        const inner = this.type(d);
        this.expect(')');
        return { kind: 'simpleAggregateFunction', fn, inner };
      }
      case 'AggregateFunction': {
        const args = this.rawArgs();
        const m = /^\s*(?:\d+\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)/.exec(args);
        if (!m) this.fail('AggregateFunction without a function name');
        return { kind: 'aggregateFunction', fn: m[1], args };
      }
      case 'Dynamic':
        return { kind: 'dynamic', args: this.rawArgs() };
      case 'JSON':
      case 'Object':
        return { kind: 'json', name, args: this.rawArgs() };
      default:
        return this.unknown(name);
    }
  }

  decimal(precision: number, scale: number): TypeNode {
    if (precision < 1 || precision > 76) this.fail(`Decimal precision ${precision} out of 1..76`);
    if (scale < 0 || scale > precision) this.fail(`Decimal scale ${scale} out of 0..${precision}`);
    return { kind: 'decimal', precision, scale, bytes: decimalBytes(precision) };
  }

  unknown(name: string): never {
    throw new UnknownTypeError(`unknown type '${name}' in '${this.s.slice(0, 200)}'`);
  }
}

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', '0': '\0', a: '\x07', v: '\v' };

/** Quote like src/IO/WriteHelpers.h writeQuotedString (backslash escapes). */
export function quoteString(s: string, q = "'"): string {
  let out = q;
  for (const c of s) {
    if (c === q || c === '\\') out += '\\' + c;
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c === '\0') out += '\\0';
    else if (c === '\b') out += '\\b';
    else if (c === '\f') out += '\\f';
    else out += c;
  }
  return out + q;
}

/** Back-quote an element name unless it is a plain identifier (src/Common/quoteString.cpp backQuoteIfNeed). */
function nameToString(n: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(n) ? n : quoteString(n, '`');
}

/** Canonical spelling of a type (as IDataType::getName() prints it). */
export function typeToString(t: TypeNode): string {
  switch (t.kind) {
    case 'int':
    case 'float':
      return t.name;
    case 'bool': return 'Bool';
    case 'string': return 'String';
    case 'fixedString': return `FixedString(${t.length})`;
    case 'date': return 'Date';
    case 'date32': return 'Date32';
    case 'dateTime': return t.timezone === null ? 'DateTime' : `DateTime(${quoteString(t.timezone)})`;
    case 'dateTime64':
      return t.timezone === null ? `DateTime64(${t.precision})` : `DateTime64(${t.precision}, ${quoteString(t.timezone)})`;
    case 'time': return 'Time';
    case 'time64': return `Time64(${t.precision})`;
    case 'decimal': return `Decimal(${t.precision}, ${t.scale})`;
    case 'uuid': return 'UUID';
    case 'ipv4': return 'IPv4';
    case 'ipv6': return 'IPv6';
    case 'enum':
      return `Enum${t.bytes * 8}(${t.values.map((v) => `${quoteString(v.name)} = ${v.value}`).join(', ')})`;
    case 'nullable': return `Nullable(${typeToString(t.inner)})`;
    case 'array': return `Array(${typeToString(t.inner)})`;
    case 'map': return `Map(${typeToString(t.key)}, ${typeToString(t.value)})`;
    case 'tuple':
      return `Tuple(${t.elements
        .map((e, i) => (t.names ? `${nameToString(t.names[i])} ${typeToString(e)}` : typeToString(e)))
        .join(', ')})`;
    case 'nested': return `Nested(${t.fields.map((f) => `${nameToString(f.name)} ${typeToString(f.type)}`).join(', ')})`;
    case 'lowCardinality': return `LowCardinality(${typeToString(t.inner)})`;
    case 'simpleAggregateFunction': return `SimpleAggregateFunction(${t.fn}, ${typeToString(t.inner)})`;
    case 'aggregateFunction': return `AggregateFunction(${t.args})`;
    case 'nothing': return 'Nothing';
    case 'interval': return `Interval${t.unit}`;
    case 'geo': return t.name;
    case 'variant': return `Variant(${t.variants.map(typeToString).join(', ')})`;
    case 'dynamic': return t.args === null ? 'Dynamic' : `Dynamic(${t.args})`;
    case 'json': return t.args === null ? t.name : `${t.name}(${t.args})`;
  }
}

/** Nesting depth of a parsed type (1 for a plain type). */
export function typeDepth(t: TypeNode): number {
  switch (t.kind) {
    case 'nullable':
    case 'array':
    case 'lowCardinality':
    case 'simpleAggregateFunction':
      return 1 + typeDepth(t.inner);
    case 'map': return 1 + Math.max(typeDepth(t.key), typeDepth(t.value));
    case 'tuple': return 1 + Math.max(...t.elements.map(typeDepth));
    case 'nested': return 1 + Math.max(...t.fields.map((f) => typeDepth(f.type)));
    case 'variant': return 1 + Math.max(...t.variants.map(typeDepth));
    default: return 1;
  }
}
