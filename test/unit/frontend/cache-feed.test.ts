/**
 * FeedPublisher (src/frontend/cache-feed.ts), the producer's side of a cross-instance feed: what it appends, and its
 * answer to "does another instance read this feed", which decides whether a run whose last local client left goes on.
 */
import { FEED_READER_MARK_MS, type CacheStore, type FeedItem, type FeedRead, type StoreFeed } from '../../../src/cache';
import { FeedPublisher, followFeed, type FeedOptions, type FeedTarget } from '../../../src/frontend/cache-feed';
import type { RecordedPacket } from '../../../src/protocol';

/** A read mark shorter than the default, as cache.redis.feed_read_mark_ms may set. */
const MARK_MS = 2_000;

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
    markRead: async () => undefined,
    markText: () => '',
    predates: () => false,
    readMarkMs: FEED_READER_MARK_MS,
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

describe('followFeed: a reader whose clients are slow', () => {
  afterEach(() => jest.useRealTimers());

  test('keeps the feed marked as read while it waits for its clients to drain, and stops once they did', async () => {
    jest.useFakeTimers();
    const marks: string[] = [];
    const reads: FeedRead[] = [
      { last: '2', producer: 'T', items: [{ kind: 'start', token: 'T' }, { kind: 'packet', bytes: Buffer.from('a'), blockStart: 0 }] },
      { last: '3', producer: 'T', items: [{ kind: 'end', status: 'ok' }] },
    ];
    const feed: StoreFeed = {
      publish: async () => undefined,
      read: async () => reads.shift() ?? null,
      readers: async () => false,
      markRead: async (key: string) => void marks.push(key),
      markText: () => '',
      predates: () => false,
      // A configured mark (cache.redis.feed_read_mark_ms), shorter than the default: renewals follow it.
      readMarkMs: MARK_MS,
    };
    let drain: (() => void) | null = null;
    const relayed: RecordedPacket[] = [];
    let ended = false;
    const flight: FeedTarget = {
      finished: false,
      relaying: false,
      relay: (rec) => (relayed.push(rec), false), // the client's socket is full at once
      relayEnd: () => void (ended = true),
      sendError: () => undefined,
      serveEntry: () => undefined,
      onDrain: (fn) => void (drain = fn),
    };
    const o: FeedOptions = { key: 'k1', lockTimeoutMs: 60_000, maxFeedBytes: 1 << 20, log: () => undefined };
    const done = followFeed({} as CacheStore, feed, flight, o);
    await jest.advanceTimersByTimeAsync(0);
    expect(relayed).toHaveLength(1);
    expect(drain).not.toBeNull();
    // The client stays full for three marks' time: the mark is renewed every half mark, so it never lapses.
    await jest.advanceTimersByTimeAsync(3 * MARK_MS);
    expect(marks.length).toBeGreaterThanOrEqual(5);
    expect(new Set(marks)).toEqual(new Set(['k1']));
    drain!();
    await expect(done).resolves.toBe('done');
    expect(ended).toBe(true);
    const after = marks.length;
    await jest.advanceTimersByTimeAsync(3 * MARK_MS);
    expect(marks.length).toBe(after); // drained: nothing renews the mark any more
  });

  test('stops renewing the mark once every client here left', async () => {
    jest.useFakeTimers();
    const marks: string[] = [];
    const feed: StoreFeed = {
      publish: async () => undefined,
      read: async () => ({ last: '2', producer: 'T', items: [{ kind: 'start', token: 'T' }, { kind: 'packet', bytes: Buffer.from('a'), blockStart: 0 }] }),
      readers: async () => false,
      markRead: async (key: string) => void marks.push(key),
      markText: () => '',
      predates: () => false,
      readMarkMs: FEED_READER_MARK_MS,
    };
    const flight = {
      finished: false,
      relaying: true,
      relay: () => false,
      relayEnd: () => undefined,
      sendError: () => undefined,
      serveEntry: () => undefined,
      onDrain: () => undefined,
    };
    void followFeed({} as CacheStore, feed, flight, { key: 'k1', lockTimeoutMs: 60_000, maxFeedBytes: 1 << 20, log: () => undefined });
    await jest.advanceTimersByTimeAsync(FEED_READER_MARK_MS);
    expect(marks.length).toBeGreaterThanOrEqual(1);
    flight.finished = true;
    await jest.advanceTimersByTimeAsync(FEED_READER_MARK_MS / 2);
    const after = marks.length;
    await jest.advanceTimersByTimeAsync(3 * FEED_READER_MARK_MS);
    expect(marks.length).toBe(after);
  });
});
