import { readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import {
  LimitError, MalformedError, NEED_MORE_DATA, ProtocolError, UnsupportedError,
} from '../../../../src/protocol/errors';
import { Reader } from '../../../../src/protocol/io/reader';
import { Writer } from '../../../../src/protocol/io/writer';
import { DEFAULT_LIMITS, withLimits } from '../../../../src/protocol/limits';
import { decodeBlock, encodeBlock, parseType, sizeBlock, skipColumn } from '../../../../src/protocol/block';
import { drive } from './drive';

const CAPTURE = readFileSync(join(__dirname, '../../../fixtures/vectors/captures-18.16/cli_nocomp_select_types/conn1.s2c.bin'));
const GOLDEN = CAPTURE.subarray(405, 403 + 837);
const small = withLimits({ maxRows: 1000, maxArrayElements: 1000, maxStringBytes: 1000, maxColumns: 10, maxBlockBytes: 1 << 20 });

/** Run f; return what it threw (or undefined). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectProtocolOrMore(e: unknown): void {
  if (e !== undefined && e !== NEED_MORE_DATA && !(e instanceof ProtocolError)) throw e;
}

const block = (hexBody: string, rev = 54460) => {
  const w = new Writer();
  w.raw(Buffer.from('0100' + '02ffffffff' + '00', 'hex'));
  w.raw(Buffer.from(hexBody.replace(/ /g, ''), 'hex'));
  return { bytes: w.toBuffer(), rev };
};
const str = (s: string) => Buffer.concat([Buffer.of(s.length), Buffer.from(s)]).toString('hex');

describe('malformed and hostile blocks', () => {
  it('random bytes only throw ProtocolError subclasses or run out of input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(54412, 54460), (a, rev) => {
        const bytes = Buffer.from(a);
        expectProtocolOrMore(thrown(() => drive((input) => sizeBlock(input, rev, small), [bytes])));
        expectProtocolOrMore(thrown(() => decodeBlock(new Reader(bytes), rev, small)));
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated golden bytes only throw ProtocolError subclasses or run out of input', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(GOLDEN.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (muts) => {
          const bytes = Buffer.from(GOLDEN);
          for (const [at, v] of muts) bytes[at] = v;
          expectProtocolOrMore(thrown(() => drive((input) => sizeBlock(input, 54412, small), [bytes])));
          expectProtocolOrMore(thrown(() => decodeBlock(new Reader(bytes), 54412, small)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('huge declared sizes throw LimitError before allocating', () => {
    const hugeRows = block('01 ffffffff0f');
    expect(thrown(() => drive((i) => sizeBlock(i, hugeRows.rev, small), [hugeRows.bytes]))).toBeInstanceOf(LimitError);
    expect(thrown(() => decodeBlock(new Reader(hugeRows.bytes), hugeRows.rev, small))).toBeInstanceOf(LimitError);
    const hugeCols = block('ffffffff0f 01');
    expect(thrown(() => drive((i) => sizeBlock(i, 54460, small), [hugeCols.bytes]))).toBeInstanceOf(LimitError);

    const hugeArray = block(`01 01 ${str('a')} ${str('Array(UInt8)')} 00 ffffffffffff0000`);
    expect(thrown(() => drive((i) => sizeBlock(i, 54460, small), [hugeArray.bytes]))).toBeInstanceOf(LimitError);
    expect(thrown(() => decodeBlock(new Reader(hugeArray.bytes), 54460, small))).toBeInstanceOf(LimitError);

    const hugeString = block(`01 01 ${str('s')} ${str('String')} 00 ffffffff0f`);
    expect(thrown(() => drive((i) => sizeBlock(i, 54460, small), [hugeString.bytes]))).toBeInstanceOf(LimitError);
    expect(thrown(() => decodeBlock(new Reader(hugeString.bytes), 54460, small))).toBeInstanceOf(LimitError);

    const hugeKeys = block(`01 01 ${str('lc')} ${str('LowCardinality(String)')} 00 0100000000000000 0006000000000000 ffffffff00000000`);
    expect(thrown(() => drive((i) => sizeBlock(i, 54460, small), [hugeKeys.bytes]))).toBeInstanceOf(LimitError);
    expect(thrown(() => decodeBlock(new Reader(hugeKeys.bytes), 54460, small))).toBeInstanceOf(LimitError);

    const deepType = block(`01 00 ${str('x')} ${str('Array('.repeat(16) + 'UInt8' + ')'.repeat(16))} 00`);
    expect(thrown(() => drive((i) => sizeBlock(i, 54460, { ...small, maxDepth: 4 }), [deepType.bytes]))).toBeInstanceOf(LimitError);
    expect(thrown(() => decodeBlock(new Reader(deepType.bytes), 54460, { ...small, maxDepth: 4 }))).toBeInstanceOf(LimitError);
    const wide = withLimits({ maxBlockBytes: 1000 });
    expect(thrown(() => drive((i) => skipColumn(i, parseType('FixedString(1000)'), 2, 54460, wide), [Buffer.alloc(0)])))
      .toBeInstanceOf(LimitError);
  });

  it('rejects LowCardinality quirks: bad key version, global dictionary, missing keys, bad index width', () => {
    const lc = (prefix: string, st: string) =>
      block(`01 01 ${str('lc')} ${str('LowCardinality(String)')} 00 ${prefix} ${st} 0100000000000000 00 0100000000000000 00`);
    const ok = lc('0100000000000000', '0006000000000000');
    expect(drive((i) => sizeBlock(i, 54460, small), [ok.bytes]).consumed).toBe(ok.bytes.length);
    expect(decodeBlock(new Reader(ok.bytes), 54460).columns[0].values).toEqual(['']);
    for (const [prefix, st] of [
      ['0200000000000000', '0006000000000000'], // key version 2
      ['0100000000000000', '0007000000000000'], // NeedGlobalDictionary
      ['0100000000000000', '0004000000000000'], // no HasAdditionalKeys
      ['0100000000000000', '0406000000000000'], // index width code 4
    ]) {
      const b = lc(prefix, st);
      expect(thrown(() => drive((i) => sizeBlock(i, 54460, small), [b.bytes]))).toBeInstanceOf(MalformedError);
      expect(thrown(() => decodeBlock(new Reader(b.bytes), 54460))).toBeInstanceOf(MalformedError);
    }
  });

  it('custom serialization: flag with all-DEFAULT kinds is accepted, other kinds are malformed below 54465', () => {
    // Tuple(UInt8, String): own stack then each element's stack (§10.3).
    const header = `01 01 ${str('t')} ${str('Tuple(UInt8, String)')}`;
    const data = '07 01 61';
    const dflt = block(`${header} 01 00 00 00 ${data}`);
    expect(drive((i) => sizeBlock(i, 54460, small), [dflt.bytes]).consumed).toBe(dflt.bytes.length);
    expect(decodeBlock(new Reader(dflt.bytes), 54460).columns[0].values).toEqual([[7, 'a']]);
    const combination = block(`${header} 01 05 02 00 00 00 00 ${data}`);
    expect(drive((i) => sizeBlock(i, 54460, small), [combination.bytes]).consumed).toBe(combination.bytes.length);
    const sparse = block(`${header} 01 00 00 01 ${data}`);
    expect(thrown(() => drive((i) => sizeBlock(i, 54460, small), [sparse.bytes]))).toBeInstanceOf(MalformedError);
    const badKind = block(`${header} 01 09 00 00 ${data}`);
    expect(thrown(() => decodeBlock(new Reader(badKind.bytes), 54460))).toBeInstanceOf(MalformedError);
    const badFlag = block(`${header} 02 ${data}`);
    expect(thrown(() => decodeBlock(new Reader(badFlag.bytes), 54460))).toBeInstanceOf(MalformedError);
  });

  it('refuses AggregateFunction, Variant, Dynamic and JSON data but frames their 0-row headers', () => {
    for (const [type, re] of [
      ['AggregateFunction(uniq, UInt64)', /uniq.*opaque state.*cannot be framed/],
      ['Variant(String, UInt64)', /Variant.*54473/], ['Dynamic', /Dynamic/], ['JSON', /JSON/], ["Object('json')", /Object/],
    ] as const) {
      const rows1 = block(`01 01 ${str('x')} ${str(type)} 00 00`);
      const e = thrown(() => drive((i) => sizeBlock(i, 54460, small), [rows1.bytes]));
      expect(e).toBeInstanceOf(UnsupportedError);
      expect((e as Error).message).toMatch(re);
      const rows0 = block(`01 00 ${str('x')} ${str(type)} 00`);
      expect(drive((i) => sizeBlock(i, 54460, small), [rows0.bytes]).consumed).toBe(rows0.bytes.length);
    }
  });

  it('an unknown type name is an UnknownTypeError', () => {
    const b = block(`01 01 ${str('x')} ${str('Frobnicate')} 00 00`);
    expect((thrown(() => drive((i) => sizeBlock(i, 54460, small), [b.bytes])) as ProtocolError).code).toBe('ERR_UNKNOWN_TYPE');
  });

  it('encodeBlock refuses a column whose length differs from the block', () => {
    expect(() => encodeBlock(new Writer(), { columns: [{ name: 'a', type: 'UInt8', values: [1] }, { name: 'b', type: 'UInt8', values: [] }] }, 54460))
      .toThrow(RangeError);
  });

  it('default limits accept the golden block', () => {
    expect(drive((i) => sizeBlock(i, 54412, DEFAULT_LIMITS), [GOLDEN]).consumed).toBe(GOLDEN.length);
  });
});
