/**
 * FeedPublisher (src/frontend/cache-feed.ts), the producer's side of a cross-instance feed: what it appends, and its
 * answer to "does another instance read this feed", which decides whether a run whose last local client left goes on.
 */
import type { FeedItem, FeedRead, StoreFeed } from '../../../src/cache';
import { FeedPublisher, type FeedOptions } from '../../../src/frontend/cache-feed';

/** A feed kept in memory; `readers` answers with `read` or fails when it is an Error. */
function memoryFeed(read: boolean | Error) {
  const items: FeedItem[] = [];
  const logged: string[] = [];
  const feed: StoreFeed & { items: FeedItem[]; asked: string[] } = {
    items,
    asked: [],
    publish: async (_key: string, batch: readonly FeedItem[]) => void items.push(...batch),
    read: async (): Promise<FeedRead | null> => null,
    readers: async (key: string) => {
      feed.asked.push(key);
      if (read instanceof Error) throw read;
      return read;
    },
  };
  const kept = { count: 0 };
  const o: FeedOptions = { key: 'k1', lockTimeoutMs: 1000, maxFeedBytes: 1 << 20, log: (_level, msg) => void logged.push(msg), onKept: () => void kept.count++ };
  return { feed, o, logged, kept };
}

const flushed = () => new Promise((r) => setImmediate(r));

test('appends the start token, the packets and the end in order', async () => {
  const { feed, o } = memoryFeed(false);
  const p = new FeedPublisher(feed, 'token-1', o);
  p.packet({ bytes: Buffer.from('a'), blockStart: 0 });
  p.end('ok');
  await flushed();
  await flushed();
  expect(feed.items.map((i) => i.kind)).toEqual(['start', 'packet', 'end']);
  expect(feed.items[0]).toEqual({ kind: 'start', token: 'token-1' });
});

test('remoteReaders: the store answers for the key, and a "yes" is logged and counted', async () => {
  const { feed, o, logged, kept } = memoryFeed(true);
  const p = new FeedPublisher(feed, 't', o);
  expect(await p.remoteReaders()).toBe(true);
  expect(feed.asked).toEqual(['k1']);
  expect(logged.some((m) => m.includes('runs on for clients of other instances'))).toBe(true);
  expect(kept.count).toBe(1);
});

test('remoteReaders: no reader, a failing store, or a feed already ended all answer false', async () => {
  const none = memoryFeed(false);
  expect(await new FeedPublisher(none.feed, 't', none.o).remoteReaders()).toBe(false);
  expect(none.kept.count).toBe(0);
  const failing = memoryFeed(new Error('redis down'));
  expect(await new FeedPublisher(failing.feed, 't', failing.o).remoteReaders()).toBe(false);
  const ended = memoryFeed(true);
  const p = new FeedPublisher(ended.feed, 't', ended.o);
  p.end('abandoned');
  expect(await p.remoteReaders()).toBe(false);
  expect(ended.feed.asked).toEqual([]); // nothing more is fed: nobody elsewhere can be waiting on it
});
