import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import { checksumMatches, cityHash128, cityHash128Into } from '../../../../src/protocol/compression';

const VECTORS = join(__dirname, '../../../fixtures/vectors');

/** Every frame of a file of chained frames: [start, end) of each. */
function frameRanges(b: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let p = 0; p < b.length; ) {
    const end = p + 16 + b.readUInt32LE(p + 17);
    out.push([p, end]);
    p = end;
  }
  return out;
}

describe('CityHash128 v1.0.2', () => {
  it('reproduces the 1000 go-faster/city CH128 vectors', () => {
    const lines = readFileSync(join(VECTORS, 'cityhash102/go-faster-city_ch128.csv'), 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1000);
    for (const line of lines) {
      const [input, lo, hi] = line.split(',');
      const h = cityHash128(Buffer.from(input, 'latin1'));
      expect([input.length, h.lo.toString(16), h.hi.toString(16)]).toEqual([input.length, lo, hi]);
    }
  });

  it('reproduces the boundary-length vectors, including their wire bytes', () => {
    const lines = readFileSync(join(VECTORS, 'cityhash102/boundary_lengths.csv'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      const [len, lo, hi, wire] = line.split(',');
      const data = Buffer.alloc(Number(len));
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      const h = cityHash128(data);
      expect([len, h.lo.toString(16).padStart(16, '0'), h.hi.toString(16).padStart(16, '0')]).toEqual([len, lo, hi]);
      const out = Buffer.alloc(20, 0xee);
      cityHash128Into(data, 0, data.length, out, 2);
      expect(out.subarray(2, 18).toString('hex')).toBe(wire);
      expect([out[0], out[1], out[18], out[19]]).toEqual([0xee, 0xee, 0xee, 0xee]);
      expect(checksumMatches(data, 0, data.length, Buffer.from(wire, 'hex'), 0)).toBe(true);
    }
  });

  const frameFiles = [
    ...readdirSync(join(VECTORS, 'compressor'))
      .filter((f) => !f.startsWith('in_') && f.endsWith('.bin'))
      .map((f) => join(VECTORS, 'compressor', f)),
    ...readdirSync(join(VECTORS, 'ch-go/compress/_golden'))
      .filter((f) => f.startsWith('data_compressed_') && f.endsWith('.raw'))
      .map((f) => join(VECTORS, 'ch-go/compress/_golden', f)),
  ];

  it.each(frameFiles)('matches the checksum of every frame in %s', (file) => {
    const b = readFileSync(file);
    for (const [start, end] of frameRanges(b)) {
      expect(checksumMatches(b, start + 16, end, b, start)).toBe(true);
      const out = Buffer.alloc(16);
      cityHash128Into(b, start + 16, end, out, 0);
      expect(out.equals(b.subarray(start, start + 16))).toBe(true);
    }
  });

  it('hashes a range the same at any offset of any buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.nat(40), fc.nat(40), (data, before, after) => {
        const padded = Buffer.alloc(before + data.length + after, 0x5a);
        padded.set(data, before);
        const a = cityHash128(data);
        const b = cityHash128(padded, before, before + data.length);
        expect(b).toEqual(a);
        const wire = Buffer.alloc(16);
        cityHash128Into(padded, before, before + data.length, wire, 0);
        expect(wire.readBigUInt64LE(0)).toBe(a.lo);
        expect(wire.readBigUInt64LE(8)).toBe(a.hi);
        expect(checksumMatches(data, 0, data.length, wire, 0)).toBe(true);
        wire[15] ^= 1;
        expect(checksumMatches(data, 0, data.length, wire, 0)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a range outside the buffer', () => {
    expect(() => cityHash128(Buffer.alloc(4), 2, 5)).toThrow(RangeError);
    expect(() => cityHash128(Buffer.alloc(4), 3, 2)).toThrow(RangeError);
  });
});
