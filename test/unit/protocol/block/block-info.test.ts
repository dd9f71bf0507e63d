import { MalformedError, NEED_MORE_DATA } from '../../../../src/protocol/errors';
import { Reader } from '../../../../src/protocol/io/reader';
import { Writer } from '../../../../src/protocol/io/writer';
import { decodeBlockInfo, encodeBlockInfo } from '../../../../src/protocol/block';

const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');

describe('BlockInfo', () => {
  it('decodes the default header written by 18.16 (§14)', () => {
    const r = new Reader(hex('01 00 02 ff ff ff ff 00'));
    expect(decodeBlockInfo(r, 54412)).toEqual({ isOverflows: false, bucketNum: -1 });
    expect(r.remaining).toBe(0);
  });

  it('encodes the same bytes', () => {
    const w = new Writer();
    encodeBlockInfo(w, { isOverflows: true, bucketNum: 7 }, 54460);
    expect(w.toBuffer()).toEqual(hex('01 01 02 07 00 00 00 00'));
    expect(decodeBlockInfo(new Reader(w.toBuffer()), 54460)).toEqual({ isOverflows: true, bucketNum: 7 });
  });

  it('accepts fields in any order or missing', () => {
    expect(decodeBlockInfo(new Reader(hex('02 05 00 00 00 00')), 54460)).toEqual({ isOverflows: false, bucketNum: 5 });
    expect(decodeBlockInfo(new Reader(hex('00')), 54460)).toEqual({ isOverflows: false, bucketNum: -1 });
  });

  it('rejects field 3 below 54480 and unknown fields', () => {
    expect(() => decodeBlockInfo(new Reader(hex('01 00 02 ff ff ff ff 03 00 00')), 54460)).toThrow(MalformedError);
    expect(() => decodeBlockInfo(new Reader(hex('04 00')), 54460)).toThrow(MalformedError);
  });

  it('asks for more bytes when cut', () => {
    let thrown: unknown;
    try {
      decodeBlockInfo(new Reader(hex('01 00 02 ff')), 54460);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBe(NEED_MORE_DATA);
  });
});
