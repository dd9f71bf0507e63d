import { giveScratch, keptScratchBytes, takeScratch } from '../../../../src/protocol/framer/scratch-pool';

describe('scratch pool', () => {
  it('lends back the smallest kept buffer that fits, and a new one when none does', () => {
    while (keptScratchBytes() > 0) takeScratch(1); // empty it (other tests in this process may have given some)
    const a = Buffer.allocUnsafe(1 << 20);
    const b = Buffer.allocUnsafe(2 << 20);
    giveScratch(b);
    giveScratch(a);
    expect(takeScratch(512 << 10)).toBe(a);
    expect(takeScratch(3 << 20).length).toBe(3 << 20); // none fits: a new one
    expect(takeScratch(1 << 20)).toBe(b);
    expect(keptScratchBytes()).toBe(0);
  });

  it('stays bounded: at most four buffers of at most 4 MiB, the larger ones kept', () => {
    while (keptScratchBytes() > 0) takeScratch(1);
    const MiB = 1 << 20;
    giveScratch(Buffer.allocUnsafe(5 * MiB)); // too large: dropped
    expect(keptScratchBytes()).toBe(0);
    for (const n of [1, 2, 3, 4]) giveScratch(Buffer.allocUnsafe(n * MiB));
    giveScratch(Buffer.allocUnsafe(MiB / 2)); // smaller than every kept one: dropped
    giveScratch(Buffer.allocUnsafe(3.5 * MiB)); // replaces the smallest (1 MiB)
    expect(keptScratchBytes()).toBe(12.5 * MiB);
    const lent = [takeScratch(1), takeScratch(1), takeScratch(1), takeScratch(1)].map((x) => x.length / MiB).sort((a, b) => a - b);
    expect(lent).toEqual([2, 3, 3.5, 4]);
    expect(keptScratchBytes()).toBe(0);
  });
});
