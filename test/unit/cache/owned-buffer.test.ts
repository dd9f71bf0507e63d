import { ownedConcat } from '../../../src/cache/owned-buffer';
import { Recorder, makeHttpEntry } from '../../../src/cache';

describe('ownedConcat', () => {
  it('copies small parts into a buffer of their own, not a slab of the shared pool', () => {
    const out = ownedConcat([Buffer.from('ab'), Buffer.from('cd')]);
    expect(out.toString()).toBe('abcd');
    expect(out.buffer.byteLength).toBe(4); // Buffer.concat would return a view of an 8 KiB pool slab
  });

  it('is what recorded entries and HTTP entries are made of', () => {
    const r = new Recorder(1 << 20);
    r.add({ bytes: Buffer.from([1, 0, 0, 0]), blockStart: 0 });
    const rec = r.finish()!;
    expect(rec.packets.buffer.byteLength).toBe(rec.packets.length);
    const e = makeHttpEntry({ headers: [], body: [Buffer.from('1\n')], tables: [], ttlMs: 10 });
    expect(e.packets.buffer.byteLength).toBe(e.packets.length);
  });
});
