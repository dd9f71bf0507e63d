/**
 * Hostile inputs made from the golden 18.16 captures: each capture's client→server stream split into packets (at
 * the offsets of the capture author's own decoding), then one packet flipped, grown, shrunk or cut. A seeded PRNG
 * makes every run reproducible: a failing case names its seed.
 */
import { listCaptures } from '../helpers/captures';

/** xorshift32: fast, seedable, good enough to choose mutations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return max <= 0 ? 0 : this.next() % max;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** One capture's client stream, as packets. */
export interface GoldenStream {
  name: string;
  packets: Buffer[];
}

/** Every capture with a decoding, split into its client packets (Hello first). */
export function goldenStreams(): GoldenStream[] {
  const out: GoldenStream[] = [];
  for (const c of listCaptures()) {
    const offsets = c.expected.filter((p) => p.dir === 'c2s').map((p) => p.offset);
    if (offsets.length === 0 || offsets[0] !== 0) continue;
    const packets = offsets.map((off, i) => c.c2s.subarray(off, i + 1 < offsets.length ? offsets[i + 1] : c.c2s.length));
    out.push({ name: `${c.name}/${c.conn}`, packets });
  }
  return out;
}

export type Mutation = 'flip' | 'insert' | 'delete' | 'truncate' | 'duplicate-span' | 'random-tail';
const MUTATIONS: Mutation[] = ['flip', 'insert', 'delete', 'truncate', 'duplicate-span', 'random-tail'];

/** One packet changed by one to four edits of a random kind. */
export function mutatePacket(p: Buffer, rng: Rng): { bytes: Buffer; kind: Mutation } {
  const kind = MUTATIONS[rng.int(MUTATIONS.length)];
  let b = Buffer.from(p);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits && b.length > 0; e++) {
    const at = rng.int(b.length);
    switch (kind) {
      case 'flip':
        b[at] ^= 1 << rng.int(8);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(8)))]);
        break;
      case 'truncate':
        return { bytes: b.subarray(0, at), kind };
      case 'duplicate-span': {
        const len = 1 + rng.int(Math.min(64, b.length - at));
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
        break;
      }
      case 'random-tail':
        return { bytes: Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(256))]), kind };
    }
  }
  return { bytes: b, kind };
}

/** A client stream with one packet mutated: the packets before it intact, then the mutated one, then the rest. */
export interface FuzzCase {
  stream: string;
  index: number;
  kind: Mutation;
  bytes: Buffer;
}

export function fuzzCase(streams: readonly GoldenStream[], rng: Rng, keepRest = true): FuzzCase {
  const s = streams[rng.int(streams.length)];
  const index = rng.int(s.packets.length);
  const m = mutatePacket(s.packets[index], rng);
  const parts = [...s.packets.slice(0, index), m.bytes, ...(keepRest ? s.packets.slice(index + 1) : [])];
  return { stream: s.name, index, kind: m.kind, bytes: Buffer.concat(parts) };
}
