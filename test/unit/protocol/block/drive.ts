import { Reader } from '../../../../src/protocol/io/reader';
import { Sizer, SizerInput } from '../../../../src/protocol/block';

/** What a drive produced: the sizer's value, bytes it consumed, and how much work feeding it took. */
export interface DriveResult<T> {
  done: boolean;
  value: T | undefined;
  consumed: number;
  /** Times the sizer yielded for more bytes. */
  resumptions: number;
  /** Bytes handed to the sizer in total, counting the unconsumed tail again on every resumption. */
  bytesPresented: number;
  /** Largest unconsumed tail carried over at a resumption. */
  maxCarried: number;
}

/**
 * Test driver for resumable sizers: feeds `chunks` one at a time. At each yield, the unconsumed tail
 * (from r.pos) is kept and the next chunk appended; the rest is dropped, as the real framer may do.
 */
export function drive<T>(make: (input: SizerInput) => Sizer<T>, chunks: Buffer[]): DriveResult<T> {
  let i = 0;
  const first = chunks[i++] ?? Buffer.alloc(0);
  const input: SizerInput = { r: new Reader(first) };
  const gen = make(input);
  let base = 0;
  const res: DriveResult<T> = {
    done: false, value: undefined, consumed: 0, resumptions: 0, bytesPresented: first.length, maxCarried: 0,
  };
  for (;;) {
    const step = gen.next();
    if (step.done) {
      res.done = true;
      res.value = step.value;
      res.consumed = base + input.r.pos;
      return res;
    }
    const r = input.r;
    if (i >= chunks.length) {
      res.consumed = base + r.pos;
      return res;
    }
    const tail = r.buf.subarray(r.pos, r.end);
    const chunk = chunks[i++];
    const next = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    base += r.pos;
    res.resumptions++;
    res.maxCarried = Math.max(res.maxCarried, tail.length);
    res.bytesPresented += next.length;
    // A fresh Reader each time: the sizer must not hold on to the old one.
    input.r = new Reader(next);
  }
}

/** Split bytes into chunks of the given sizes (cycled). */
export function chunked(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let k = 0;
  for (let p = 0; p < bytes.length; ) {
    const n = Math.max(1, sizes[k++ % sizes.length]);
    out.push(bytes.subarray(p, p + n));
    p += n;
  }
  return out;
}

/** One byte per chunk. */
export function bytewise(bytes: Buffer): Buffer[] {
  return Array.from(bytes, (b) => Buffer.of(b));
}
