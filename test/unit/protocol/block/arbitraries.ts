import fc from 'fast-check';
import { IntName, TypeNode } from '../../../../src/protocol/block';

const INTS: [IntName, number, boolean][] = [
  ['UInt8', 1, false], ['UInt16', 2, false], ['UInt32', 4, false], ['UInt64', 8, false], ['UInt128', 16, false],
  ['UInt256', 32, false], ['Int8', 1, true], ['Int16', 2, true], ['Int32', 4, true], ['Int64', 8, true],
  ['Int128', 16, true], ['Int256', 32, true],
];
const name = fc.string({ maxLength: 6 });
const tz = fc.constantFrom('UTC', 'Europe/Moscow', "it's", 'a\\b');

/** Scalar types the value codec supports (what LowCardinality and Nullable may wrap). */
export const scalarArb: fc.Arbitrary<TypeNode> = fc.oneof(
  fc.constantFrom(...INTS).map(([n, bytes, signed]): TypeNode => ({ kind: 'int', name: n, bytes, signed })),
  fc.constantFrom<TypeNode>(
    { kind: 'float', name: 'Float32', bytes: 4 }, { kind: 'float', name: 'Float64', bytes: 8 },
    { kind: 'float', name: 'BFloat16', bytes: 2 }, { kind: 'bool' }, { kind: 'string' }, { kind: 'date' },
    { kind: 'date32' }, { kind: 'uuid' }, { kind: 'ipv4' }, { kind: 'ipv6' }, { kind: 'time' }, { kind: 'nothing' },
    { kind: 'interval', unit: 'Second' }, { kind: 'interval', unit: 'Year' },
  ),
  fc.integer({ min: 1, max: 40 }).map((length): TypeNode => ({ kind: 'fixedString', length })),
  fc.option(tz, { nil: null }).map((timezone): TypeNode => ({ kind: 'dateTime', timezone })),
  fc.tuple(fc.integer({ min: 0, max: 9 }), fc.option(tz, { nil: null }))
    .map(([precision, timezone]): TypeNode => ({ kind: 'dateTime64', precision, timezone })),
  fc.integer({ min: 0, max: 9 }).map((precision): TypeNode => ({ kind: 'time64', precision })),
  fc.integer({ min: 1, max: 76 }).chain((precision) => fc.integer({ min: 0, max: precision }).map((scale): TypeNode => ({
    kind: 'decimal', precision, scale, bytes: precision <= 9 ? 4 : precision <= 18 ? 8 : precision <= 38 ? 16 : 32,
  }))),
  fc.constantFrom<1 | 2>(1, 2).chain((bytes) =>
    fc.array(fc.record({ name, value: fc.integer({ min: bytes === 1 ? -128 : -32768, max: bytes === 1 ? 127 : 32767 }) }),
      { minLength: 1, maxLength: 4 }).map((values): TypeNode => ({ kind: 'enum', bytes, values }))),
);

const lcInner: fc.Arbitrary<TypeNode> = fc.oneof(
  fc.constantFrom<TypeNode>({ kind: 'string' }, { kind: 'int', name: 'UInt32', bytes: 4, signed: false },
    { kind: 'date' }, { kind: 'fixedString', length: 3 }, { kind: 'float', name: 'Float64', bytes: 8 }),
);

/**
 * Random type ASTs of depth <= `depth`. With `all`, also the kinds the codec refuses (aggregate
 * functions, Variant, Dynamic, JSON) and geo types, for parser round trips.
 */
export function typeArb(depth: number, all = false): fc.Arbitrary<TypeNode> {
  const leaf: fc.Arbitrary<TypeNode> = all
    ? fc.oneof(scalarArb, fc.constantFrom<TypeNode>(
      { kind: 'geo', name: 'Point' }, { kind: 'geo', name: 'MultiPolygon' }, { kind: 'dynamic', args: null },
      { kind: 'dynamic', args: 'max_types=3' }, { kind: 'json', name: 'JSON', args: null },
      { kind: 'json', name: 'Object', args: "'json'" }, { kind: 'aggregateFunction', fn: 'uniq', args: 'uniq, UInt64' },
    ))
    : fc.oneof(scalarArb, fc.constantFrom<TypeNode>({ kind: 'geo', name: 'Point' }, { kind: 'geo', name: 'Ring' }));
  if (depth <= 1) return leaf;
  const sub = typeArb(depth - 1, all);
  const composite: fc.Arbitrary<TypeNode>[] = [
    sub.map((inner): TypeNode => ({ kind: 'array', inner })),
    scalarArb.map((inner): TypeNode => ({ kind: 'nullable', inner })),
    lcInner.map((inner): TypeNode => ({ kind: 'lowCardinality', inner })),
    lcInner.map((inner): TypeNode => ({ kind: 'lowCardinality', inner: { kind: 'nullable', inner } })),
    fc.tuple(fc.oneof(lcInner, lcInner.map((inner): TypeNode => ({ kind: 'lowCardinality', inner }))), sub)
      .map(([key, value]): TypeNode => ({ kind: 'map', key, value })),
    fc.array(sub, { minLength: 1, maxLength: 3 }).map((elements): TypeNode => ({ kind: 'tuple', elements, names: null })),
    fc.array(fc.tuple(name, sub), { minLength: 1, maxLength: 3 })
      .map((els): TypeNode => ({ kind: 'tuple', elements: els.map((e) => e[1]), names: els.map((e) => e[0]) })),
    fc.array(fc.tuple(name, sub), { minLength: 1, maxLength: 3 })
      .map((els): TypeNode => ({ kind: 'nested', fields: els.map(([n, type]) => ({ name: n, type })) })),
    sub.map((inner): TypeNode => ({ kind: 'simpleAggregateFunction', fn: 'anyLast', inner })),
  ];
  if (all) composite.push(fc.array(sub, { minLength: 1, maxLength: 3 }).map((variants): TypeNode => ({ kind: 'variant', variants })));
  return fc.oneof({ depthSize: 'small' }, leaf, ...composite);
}

const F32 = Buffer.alloc(4);
const range = (bytes: number, signed: boolean) => signed
  ? fc.bigInt({ min: -(1n << BigInt(bytes * 8 - 1)), max: (1n << BigInt(bytes * 8 - 1)) - 1n })
  : fc.bigInt({ min: 0n, max: (1n << BigInt(bytes * 8)) - 1n });

/** Values of a type as the value codec returns them (see values.ts). */
export function valueArb(t: TypeNode): fc.Arbitrary<unknown> {
  switch (t.kind) {
    case 'int':
      if (t.bytes <= 4) return range(t.bytes, t.signed).map(Number);
      return range(t.bytes, t.signed);
    case 'float':
      if (t.bytes === 4) return fc.float();
      if (t.bytes === 8) return fc.double();
      return fc.integer({ min: 0, max: 0xffff }).map((bits) => {
        F32.writeUInt32LE(bits * 0x10000);
        return F32.readFloatLE(0);
      });
    case 'bool': return fc.boolean();
    case 'string': return fc.string({ maxLength: 8 });
    case 'fixedString': return fc.uint8Array({ minLength: t.length, maxLength: t.length }).map((a) => Buffer.from(a));
    case 'date': return fc.integer({ min: 0, max: 0xffff });
    case 'date32': case 'time': return range(4, true).map(Number);
    case 'dateTime': case 'ipv4': return range(4, false).map(Number);
    case 'dateTime64': case 'time64': case 'interval': return range(8, true);
    case 'decimal': return range(t.bytes, true);
    case 'uuid': return fc.uuid();
    case 'ipv6': return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a));
    case 'enum': return fc.constantFrom(...t.values.map((v) => v.value));
    case 'nothing': return fc.constant(null);
    case 'nullable': return fc.option(valueArb(t.inner), { nil: null });
    case 'array': return fc.array(valueArb(t.inner), { maxLength: 3 });
    case 'map': return fc.array(fc.tuple(valueArb(t.key), valueArb(t.value)), { maxLength: 3 });
    case 'tuple': return fc.tuple(...t.elements.map(valueArb));
    case 'nested': return fc.array(fc.tuple(...t.fields.map((f) => valueArb(f.type))), { maxLength: 3 });
    case 'lowCardinality': return valueArb(t.inner);
    case 'simpleAggregateFunction': return valueArb(t.inner);
    case 'geo': {
      const point = fc.tuple(fc.double(), fc.double());
      return t.name === 'Point' ? point : fc.array(point, { maxLength: 3 });
    }
    default: throw new Error(`no values for ${t.kind}`);
  }
}
