import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { NEED_MORE_DATA, ProtocolError } from '../../../../src/protocol/errors';
import { Reader } from '../../../../src/protocol/io/reader';
import { withLimits } from '../../../../src/protocol/limits';
import { decodeClientPacket, decodeServerPacket } from '../../../../src/protocol/packets';
import { parseDecodedTxt } from './py-literal';

/**
 * Hostile input: random bytes and mutated capture bytes. Decoders may only return a packet, throw
 * NEED_MORE_DATA or a ProtocolError subclass; each run is time-boxed.
 */

const REVS = [54405, 54406, 54412, 54429, 54441, 54453, 54458, 54459, 54460, 54466, 54477];
const LIMITS = withLimits({ maxStringBytes: 1 << 16, maxListEntries: 1 << 10 });

function expectOnlyProtocolErrors(run: () => unknown): void {
  try {
    run();
  } catch (e) {
    if (e === NEED_MORE_DATA) return;
    if (!(e instanceof ProtocolError)) throw e;
  }
}

function decodeAll(buf: Buffer, rev: number, expectAddendum: boolean): void {
  expectOnlyProtocolErrors(() => decodeClientPacket(new Reader(buf, 0, buf.length, LIMITS), rev, { expectAddendum }));
  expectOnlyProtocolErrors(() => decodeServerPacket(new Reader(buf, 0, buf.length, LIMITS), rev));
}

/** Non-block packets of the captures (Data-like packets are framed by the block codec). */
const samples: Buffer[] = [];
const ROOT = path.join(__dirname, '../../../fixtures/vectors/captures-18.16');
for (const capture of fs.readdirSync(ROOT).filter((d) => !d.startsWith('_'))) {
  for (const f of fs.readdirSync(path.join(ROOT, capture)).filter((f) => f.endsWith('.decoded.txt'))) {
    const base = path.join(ROOT, capture, f.replace('.decoded.txt', ''));
    const lines = parseDecodedTxt(fs.readFileSync(`${base}.decoded.txt`, 'utf8'));
    for (const dir of ['c2s', 's2c'] as const) {
      const bytes = fs.readFileSync(`${base}.${dir}.bin`);
      const own = lines.filter((l) => l.dir === dir);
      own.forEach((l, i) => {
        if (['Data', 'Totals', 'Extremes', 'Log'].includes(l.kind)) return;
        samples.push(bytes.subarray(l.offset, i + 1 < own.length ? own[i + 1].offset : bytes.length));
      });
    }
  }
}

describe('decoders on hostile bytes throw only ProtocolError or NEED_MORE_DATA', () => {
  it('has capture samples', () => {
    expect(samples.length).toBeGreaterThan(50);
  });

  it('random bytes', () => {
    const started = Date.now();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...REVS), fc.boolean(), (a, rev, addendum) => {
        decodeAll(Buffer.from(a), rev, addendum);
      }),
      { numRuns: 5000, interruptAfterTimeLimit: 4000 },
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('random bytes after each valid packet code', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 25 }), fc.uint8Array({ maxLength: 120 }), fc.constantFrom(...REVS), (code, a, rev) => {
        decodeAll(Buffer.concat([Buffer.from([code]), Buffer.from(a)]), rev, false);
      }),
      { numRuns: 5000, interruptAfterTimeLimit: 4000 },
    );
  });

  it('mutated capture packets (byte flips, insertions, deletions, truncations)', () => {
    const mutation = fc.record({
      sample: fc.nat({ max: samples.length - 1 }),
      edits: fc.array(
        fc.record({ at: fc.nat(), kind: fc.constantFrom('set', 'insert', 'delete'), byte: fc.integer({ min: 0, max: 255 }) }),
        { minLength: 1, maxLength: 4 },
      ),
      truncate: fc.option(fc.nat()),
      rev: fc.constantFrom(...REVS),
    });
    fc.assert(
      fc.property(mutation, ({ sample, edits, truncate, rev }) => {
        const b = [...samples[sample]];
        for (const e of edits) {
          const at = b.length === 0 ? 0 : e.at % b.length;
          if (e.kind === 'set' && b.length > 0) b[at] = e.byte;
          else if (e.kind === 'insert') b.splice(at, 0, e.byte);
          else b.splice(at, 1);
        }
        const buf = Buffer.from(truncate === null ? b : b.slice(0, truncate % (b.length + 1)));
        decodeAll(buf, rev, false);
      }),
      { numRuns: 3000, interruptAfterTimeLimit: 4000 },
    );
  });
});
