import fc from 'fast-check';
import { Reader } from '../../../../src/protocol/io/reader';
import { Writer } from '../../../../src/protocol/io/writer';
import { DEFAULT_LIMITS } from '../../../../src/protocol/limits';
import {
  decodeBlock, decodeColumn, encodeBlock, encodeColumn, sizeBlock, sizeBlockNow, skipColumn, typeToString, TypeNode,
} from '../../../../src/protocol/block';
import { typeArb, valueArb } from './arbitraries';
import { chunked, drive } from './drive';

const REVS = [54406, 54453, 54454, 54460];

const columnArb = typeArb(3).chain((type) =>
  fc.record({ type: fc.constant(type), values: fc.array(valueArb(type), { maxLength: 5 }) }));

const blockArb = fc
  .tuple(fc.array(typeArb(3), { minLength: 0, maxLength: 4 }), fc.integer({ min: 0, max: 5 }))
  .chain(([types, rows]) => fc.record({
    info: fc.record({ isOverflows: fc.boolean(), bucketNum: fc.integer({ min: -1, max: 255 }) }),
    rows: fc.constant(rows),
    columns: fc.tuple(...types.map((type, i) => fc.record({
      name: fc.constant(`c${i}`),
      type: fc.constant(typeToString(type)),
      values: fc.array(valueArb(type), { minLength: rows, maxLength: rows }),
    }))),
  }));

describe('property: value codec and sizer agree', () => {
  it('column: decode(encode(v)) = v and skipColumn consumes exactly the encoding', () => {
    fc.assert(
      fc.property(columnArb, fc.constantFrom(...REVS), ({ type, values }: { type: TypeNode; values: unknown[] }, rev) => {
        const w = new Writer();
        encodeColumn(w, type, values, rev);
        const bytes = w.toBuffer();
        const r = new Reader(bytes);
        expect(decodeColumn(r, type, values.length, rev)).toEqual(values);
        expect(r.pos).toBe(bytes.length);
        const res = drive((input) => skipColumn(input, type, values.length, rev, DEFAULT_LIMITS), [bytes]);
        expect(res.done).toBe(true);
        expect(res.consumed).toBe(bytes.length);
      }),
      { numRuns: 400 },
    );
  });

  it('block: decodeBlock(encodeBlock(x)) = x and sizeBlock consumes exactly the encoding at every revision', () => {
    fc.assert(
      fc.property(blockArb, fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 5 }), (block, sizes) => {
        for (const rev of REVS) {
          const w = new Writer();
          encodeBlock(w, block, rev);
          const bytes = w.toBuffer();
          const r = new Reader(bytes);
          expect(decodeBlock(r, rev)).toEqual(block);
          expect(r.pos).toBe(bytes.length);
          const whole = drive((input) => sizeBlock(input, rev, DEFAULT_LIMITS), [bytes]);
          expect(whole.consumed).toBe(bytes.length);
          expect(whole.value).toEqual({ info: block.info, rows: block.rows, columns: block.columns.map(({ name, type }) => ({ name, type })) });
          const split = drive((input) => sizeBlock(input, rev, DEFAULT_LIMITS), chunked(bytes, sizes));
          expect(split.done).toBe(true);
          expect(split.consumed).toBe(bytes.length);
        }
      }),
      { numRuns: 250 },
    );
  });

  it('sizeBlockNow: the same summary and end as sizeBlock, or null with the position unchanged (then sizeBlock from there)', () => {
    let sized = 0;
    let deferred = 0;
    fc.assert(
      fc.property(blockArb, fc.constantFrom(...REVS), fc.integer({ min: 0, max: 40 }), (block, rev, cut) => {
        const w = new Writer();
        encodeBlock(w, block, rev);
        const bytes = w.toBuffer();
        const expected = { info: block.info, rows: block.rows, columns: block.columns.map(({ name, type }) => ({ name, type })) };
        // Whole block, with bytes of a next packet behind it: sized in one pass or left to the sizer, never wrong.
        const padded = Buffer.concat([Buffer.alloc(3, 0x11), bytes, Buffer.from([1, 0, 2])]);
        const r = new Reader(padded, 3, padded.length);
        const now = sizeBlockNow(r, rev, DEFAULT_LIMITS);
        if (now === null) {
          deferred++;
          expect(r.pos).toBe(3);
        } else {
          sized++;
          expect(now).toEqual(expected);
          expect(r.pos).toBe(3 + bytes.length);
        }
        // Cut short: null and untouched, whatever the kind of the column at the cut.
        if (cut < bytes.length) {
          const short = new Reader(bytes, 0, cut);
          expect(sizeBlockNow(short, rev, DEFAULT_LIMITS)).toBeNull();
          expect(short.pos).toBe(0);
        }
      }),
      { numRuns: 400 },
    );
    // Both outcomes happened (fixed-width and String blocks in one pass, the other layouts deferred).
    expect(sized).toBeGreaterThan(50);
    expect(deferred).toBeGreaterThan(10);
  });
});
