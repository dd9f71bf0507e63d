import { ConnectionState, Framer, FramedPacket } from '../../../../src/protocol/framer';
import { Capture } from '../../../helpers/captures';

export interface Replay {
  c2s: FramedPacket[];
  s2c: FramedPacket[];
  client: Framer;
  server: Framer;
}

/**
 * Replays a capture through a client and a server framer sharing one ConnectionState, in the
 * order the relay received the bytes (events.jsonl), cutting each recv into pieces with `cut`.
 */
export function replay(cap: Capture, cut: (chunk: Buffer, index: number) => Buffer[] = (c) => [c]): Replay {
  const state = new ConnectionState();
  const client = new Framer('client', state);
  const server = new Framer('server', state);
  const out: Replay = { c2s: [], s2c: [], client, server };
  cap.events.forEach((ev, i) => {
    const src = ev.dir === 'c2s' ? cap.c2s : cap.s2c;
    const framer = ev.dir === 'c2s' ? client : server;
    const sink = ev.dir === 'c2s' ? out.c2s : out.s2c;
    for (const piece of cut(src.subarray(ev.off, ev.off + ev.len), i)) {
      sink.push(...framer.push(piece));
      // A Hello on one side can unblock the other (the addendum and first packets wait for it).
      out.c2s.push(...client.poll());
      out.s2c.push(...server.poll());
    }
  });
  return out;
}

export const byteByByte = (c: Buffer): Buffer[] => Array.from({ length: c.length }, (_, i) => c.subarray(i, i + 1));

export function splitAt(k: number) {
  return (c: Buffer): Buffer[] => (k > 0 && k < c.length ? [c.subarray(0, k), c.subarray(k)] : [c]);
}

/** Deterministic pseudo-random chunking (xorshift), so failures reproduce. */
export function randomCuts(seed: number, maxLen: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return (c: Buffer): Buffer[] => {
    const out: Buffer[] = [];
    let at = 0;
    while (at < c.length) {
      const n = 1 + (next() % maxLen);
      out.push(c.subarray(at, at + n));
      at += n;
    }
    return out;
  };
}
