import fc from 'fast-check';
import { LimitError, UnknownTypeError } from '../../../../src/protocol/errors';
import { parseType, typeToString, TypeNode } from '../../../../src/protocol/block';
import { typeArb } from './arbitraries';

describe('parseType', () => {
  it('parses scalars', () => {
    expect(parseType('UInt8')).toEqual({ kind: 'int', name: 'UInt8', bytes: 1, signed: false });
    expect(parseType('Int256')).toEqual({ kind: 'int', name: 'Int256', bytes: 32, signed: true });
    expect(parseType('BFloat16')).toEqual({ kind: 'float', name: 'BFloat16', bytes: 2 });
    expect(parseType('FixedString(16)')).toEqual({ kind: 'fixedString', length: 16 });
    expect(parseType("DateTime('Europe/Moscow')")).toEqual({ kind: 'dateTime', timezone: 'Europe/Moscow' });
    expect(parseType('DateTime64(3)')).toEqual({ kind: 'dateTime64', precision: 3, timezone: null });
    expect(parseType("DateTime64(9, 'UTC')")).toEqual({ kind: 'dateTime64', precision: 9, timezone: 'UTC' });
    expect(parseType('Time64(6)')).toEqual({ kind: 'time64', precision: 6 });
    expect(parseType('IntervalQuarter')).toEqual({ kind: 'interval', unit: 'Quarter' });
    expect(parseType('MultiPolygon')).toEqual({ kind: 'geo', name: 'MultiPolygon' });
  });

  it('normalises decimals to Decimal(P, S) with the storage width', () => {
    expect(parseType('Decimal(9, 2)')).toEqual({ kind: 'decimal', precision: 9, scale: 2, bytes: 4 });
    expect(parseType('Decimal32(3)')).toEqual({ kind: 'decimal', precision: 9, scale: 3, bytes: 4 });
    expect(parseType('Decimal64(4)')).toMatchObject({ precision: 18, bytes: 8 });
    expect(parseType('Decimal(38,10)')).toMatchObject({ precision: 38, bytes: 16 });
    expect(parseType('Decimal256(20)')).toMatchObject({ precision: 76, bytes: 32 });
    expect(typeToString(parseType('Decimal128(5)'))).toBe('Decimal(38, 5)');
  });

  it('parses enums with escapes, doubled quotes and negative values', () => {
    const t = parseType("Enum8('a' = -128, 'it\\'s' = 0, 'x''y' = 1, 'back\\\\slash' = 2, 'nl\\n' = 127)");
    expect(t).toEqual({
      kind: 'enum', bytes: 1,
      values: [
        { name: 'a', value: -128 }, { name: "it's", value: 0 }, { name: "x'y", value: 1 },
        { name: 'back\\slash', value: 2 }, { name: 'nl\n', value: 127 },
      ],
    });
    expect(typeToString(t)).toBe("Enum8('a' = -128, 'it\\'s' = 0, 'x\\'y' = 1, 'back\\\\slash' = 2, 'nl\\n' = 127)");
    expect(() => parseType("Enum8('a' = 128)")).toThrow(UnknownTypeError);
    expect(parseType("Enum16('a' = -32768)")).toMatchObject({ bytes: 2 });
  });

  it('parses composites, named and back-quoted tuple elements', () => {
    expect(parseType('Tuple(a UInt8, `b c` Nullable(String))')).toEqual({
      kind: 'tuple',
      elements: [parseType('UInt8'), parseType('Nullable(String)')],
      names: ['a', 'b c'],
    });
    expect(parseType('Tuple(UInt64, String)')).toMatchObject({ names: null });
    expect(parseType("Tuple(DateTime('UTC'), Array(UInt8))")).toMatchObject({ names: null });
    expect(typeToString(parseType('Tuple(`b c` UInt8, d String)'))).toBe('Tuple(`b c` UInt8, d String)');
    expect(parseType('Map(LowCardinality(String), Array(Nullable(UInt64)))')).toEqual({
      kind: 'map',
      key: { kind: 'lowCardinality', inner: { kind: 'string' } },
      value: { kind: 'array', inner: { kind: 'nullable', inner: parseType('UInt64') } },
    });
    expect(parseType('Nested(a UInt8, b String)')).toEqual({
      kind: 'nested', fields: [{ name: 'a', type: parseType('UInt8') }, { name: 'b', type: parseType('String') }],
    });
    expect(parseType('Nullable(Nothing)')).toEqual({ kind: 'nullable', inner: { kind: 'nothing' } });
  });

  it('keeps aggregate functions, Dynamic and JSON opaque', () => {
    expect(parseType('SimpleAggregateFunction(anyLast, Nullable(String))')).toEqual({
      kind: 'simpleAggregateFunction', fn: 'anyLast', inner: parseType('Nullable(String)'),
    });
    expect(parseType('SimpleAggregateFunction(groupArrayArray(10), Array(UInt8))')).toMatchObject({ fn: 'groupArrayArray(10)' });
    const agg = parseType("AggregateFunction(quantiles(0.5, 0.9), UInt64)");
    expect(agg).toEqual({ kind: 'aggregateFunction', fn: 'quantiles', args: 'quantiles(0.5, 0.9), UInt64' });
    expect(typeToString(agg)).toBe('AggregateFunction(quantiles(0.5, 0.9), UInt64)');
    expect(parseType('AggregateFunction(1, sumMap, Array(UInt8), Array(UInt64))')).toMatchObject({ fn: 'sumMap' });
    expect(parseType('Variant(String, UInt64)')).toEqual({ kind: 'variant', variants: [parseType('String'), parseType('UInt64')] });
    expect(parseType('Dynamic')).toEqual({ kind: 'dynamic', args: null });
    expect(parseType('Dynamic(max_types=10)')).toEqual({ kind: 'dynamic', args: 'max_types=10' });
    expect(parseType('JSON')).toEqual({ kind: 'json', name: 'JSON', args: null });
    expect(parseType("Object('json')")).toEqual({ kind: 'json', name: 'Object', args: "'json'" });
    expect(typeToString(parseType("JSON(max_dynamic_paths=8, a.b UInt32, SKIP c)"))).toBe('JSON(max_dynamic_paths=8, a.b UInt32, SKIP c)');
  });

  it('rejects unknown and malformed names with UnknownTypeError', () => {
    for (const bad of ['Foo', 'Array(Foo)', 'Array(UInt8', 'Array()', 'UInt8)', 'Tuple()', 'FixedString(x)', 'FixedString(0)',
      "DateTime('UTC", 'Decimal(80, 2)', 'Decimal(5, 6)', 'Map(String)', 'Tuple(a UInt8, String)', '', 'Nullable(UInt8) x']) {
      expect(() => parseType(bad)).toThrow(UnknownTypeError);
    }
  });

  it('limits nesting depth', () => {
    const deep = 'Array('.repeat(10) + 'UInt8' + ')'.repeat(10);
    expect(parseType(deep, { maxDepth: 11 })).toMatchObject({ kind: 'array' });
    expect(() => parseType(deep, { maxDepth: 10 })).toThrow(LimitError);
    const huge = 'Array('.repeat(100_000) + 'UInt8' + ')'.repeat(100_000);
    expect(() => parseType(huge)).toThrow(LimitError);
  });

  it('round-trips canonical spellings', () => {
    for (const s of [
      'UInt8', "DateTime('UTC')", "DateTime64(3, 'Asia/Tokyo')", 'Decimal(18, 4)', "Enum8('a' = 1, 'b' = 2)",
      'Array(LowCardinality(Nullable(String)))', 'Map(String, Tuple(UInt8, Float64))', 'Tuple(a UInt8, b String)',
      'SimpleAggregateFunction(sum, UInt64)', 'IntervalSecond', 'Point', 'Time', 'Time64(3)', 'BFloat16',
      'Nested(a UInt8, b Array(String))', 'Variant(String, UInt64)', 'Nothing', 'IPv6',
    ]) expect(typeToString(parseType(s))).toBe(s);
  });

  it('property: parse(toString(t)) equals t, and toString is a fixed point', () => {
    fc.assert(
      fc.property(typeArb(3, true), (t: TypeNode) => {
        const s = typeToString(t);
        const p = parseType(s);
        expect(p).toEqual(t);
        expect(parseType(typeToString(p))).toEqual(p);
      }),
      { numRuns: 500 },
    );
  });
});
