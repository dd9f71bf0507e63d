/**
 * Cross-instance single-flight, streaming (issue 5): the instance that holds a key's lock feeds the result into the
 * store as it arrives (FeedPublisher, a tap on its flight); an instance whose clients asked for the same key while
 * the lock was held reads that feed into its own flight (followFeed), so its clients get the packets as they are
 * produced rather than after the end.
 *
 * Which feed belongs to which execution: the feed starts with the producer's lock token, and a reader follows a feed
 * only while its start token is the current lock holder's (an older feed of the same key, from before a write
 * invalidated its result, is never read). Once the producer is gone, a reader that has not sent anything yet takes
 * the stored entry or runs the query itself; one that already sent packets can only report the loss.
 */
import { type CacheStore, type Entry, type FeedItem, type StoreFeed, type StoreMark } from '../cache';
import type { RecordedPacket } from '../protocol';
import type { FlightTap } from './cache-flight';
import { ProxyErrorCode, replyError } from './error-reply';

/** Items read per feed read. */
const READ_COUNT = 64;
/** How long one read waits for new items before looking again (it is woken by the producer's appends). */
const READ_WAIT_MS = 250;
/** Extra life of a feed after its producer's lock time, so readers still reading can finish. */
const FEED_GRACE_MS = 10_000;

export interface FeedOptions {
  key: string;
  /** The producer's lock token (FeedPublisher) or the lock timeout (followFeed). */
  lockTimeoutMs: number;
  /** Stop feeding a result larger than this (memory in the store is bounded): readers that already sent get an error. */
  maxFeedBytes: number;
  log: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
  /** The producer's run went on for other instances' readers (remoteReaders() said yes): counted by the metrics. */
  onKept?: () => void;
  /**
   * This instance's invalidation mark of the key's tables. The producer writes it into the feed's start; a reader
   * compares its own with it and runs the query itself rather than follow an execution that predates a write.
   */
  mark?: StoreMark | null;
}

/** The producer's side: batches the flight's packets per tick and appends them to the feed in order. */
export class FeedPublisher implements FlightTap {
  private batch: FeedItem[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private fresh = true;
  private bytes = 0;
  private stopped = false;

  constructor(
    private readonly feed: StoreFeed,
    token: string,
    private readonly o: FeedOptions,
  ) {
    this.push(o.mark ? { kind: 'start', token, mark: feed.markText(o.mark) } : { kind: 'start', token });
  }

  packet(rec: RecordedPacket): void {
    if (this.stopped) return;
    this.bytes += rec.bytes.length;
    if (this.bytes > this.o.maxFeedBytes) {
      this.end('abandoned');
      return;
    }
    this.push({ kind: 'packet', bytes: rec.bytes, blockStart: rec.blockStart });
  }

  /** Whether another instance reads this feed now (its clients would lose their answer if the run were cut). */
  remoteReaders(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return this.feed.readers(this.o.key).then(
      (read) => {
        if (read) {
          this.o.log('info', 'cache: the last client here of a shared run left; it runs on for clients of other instances reading its feed');
          this.o.onKept?.();
        }
        return read;
      },
      // The store cannot tell: the run is cut as without readers (their clients get the error of a lost producer).
      () => false,
    );
  }

  end(status: 'ok' | 'error' | 'abandoned', bytes?: Buffer): void {
    if (this.stopped) return;
    this.push({ kind: 'end', status, bytes });
    this.stopped = true;
  }

  private push(item: FeedItem): void {
    this.batch.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    // One append per tick of packets: a result of many small blocks costs few round trips.
    setImmediate(() => {
      this.scheduled = false;
      const items = this.batch;
      this.batch = [];
      const fresh = this.fresh;
      this.fresh = false;
      this.chain = this.chain.then(() =>
        this.feed.publish(this.o.key, items, this.o.lockTimeoutMs + FEED_GRACE_MS, fresh).catch((e: unknown) => {
          // Readers notice the silence (their wait times out) and fall back; the local clients are unaffected.
          this.stopped = true;
          this.o.log('debug', 'cache feed append failed', { error: (e as Error).message });
        }),
      );
    });
  }
}

/**
 * What a feed is read into: a native flight (cache-flight.ts), or an HTTP one through its adapter (src/http/flight-feed.ts).
 */
export interface FeedTarget {
  /** Every client here left: stop reading. */
  readonly finished: boolean;
  /** Something of the relayed result already reached a client here (it can no longer be run here instead). */
  readonly relaying: boolean;
  /** One item of the result; false when a client's socket is full (wait for onDrain). */
  relay(rec: RecordedPacket): boolean;
  /** The result ended: `exception` is the producer's error ending (null: a complete result). */
  relayEnd(exception: Buffer | null): void;
  /** The producer was lost after something was relayed: the clients are told (or cut). */
  sendError(err: unknown): void;
  /** The producer is gone but its entry is stored: every client gets it. */
  serveEntry(entry: Entry): void;
  onDrain(fn: () => void): void;
}

/**
 * Reads another instance's feed of `key` into `flight` until the result ends. Returns 'run' when this instance must
 * run the query itself (nothing was sent to its clients yet), 'done' otherwise (the flight has ended).
 */
export async function followFeed(store: CacheStore, feed: StoreFeed, flight: FeedTarget, o: FeedOptions): Promise<'done' | 'run'> {
  let after = '0';
  let producer: string | null = null;
  let lastProgress = Date.now();
  const lost = (why: string): 'done' | 'run' => {
    if (!flight.relaying) return 'run';
    flight.sendError(replyError(ProxyErrorCode.NETWORK_ERROR, `Gatehouse: the instance running this query for several clients ${why}; run it again`));
    return 'done';
  };
  for (;;) {
    if (flight.finished) return 'done'; // every client here left
    let r;
    try {
      r = await feed.read(o.key, after, READ_COUNT, READ_WAIT_MS);
    } catch {
      return lost('could not be followed (cache store unavailable)');
    }
    if (r === null || (producer === null && r.producer === null)) {
      // Nobody produces it now: its entry (stored under the invalidation protocol) or our own run.
      if (flight.relaying) return lost('stopped');
      const entry = await store.get(o.key).catch(() => null);
      if (entry === null) return 'run';
      flight.serveEntry(entry);
      return 'done';
    }
    if (producer === null) {
      // Not started yet: the feed must begin with the current holder's token (else it is an older execution's).
      const start = r.items[0];
      if (start === undefined || start.kind !== 'start' || start.token !== r.producer) {
        after = '0';
        if (Date.now() - lastProgress > o.lockTimeoutMs) return 'run';
        if (r.items.length > 0) await new Promise((res) => setTimeout(res, 20)); // an old feed: wait for the new one
        continue;
      }
      // An execution older than a write this instance's mark includes: not for these clients (nothing sent yet).
      if (o.mark && feed.predates(start.mark, o.mark)) return 'run';
      producer = start.token;
    }
    if (r.items.length === 0) {
      if (Date.now() - lastProgress > o.lockTimeoutMs) return lost('went silent');
      continue;
    }
    lastProgress = Date.now();
    after = r.last;
    let full = false;
    for (const item of r.items) {
      if (item.kind === 'start') continue;
      if (item.kind === 'packet') {
        if (!flight.relay({ bytes: item.bytes, blockStart: item.blockStart })) full = true;
        continue;
      }
      if (item.status === 'ok') flight.relayEnd(null);
      else if (item.status === 'error') flight.relayEnd(item.bytes ?? null);
      else return lost('stopped before the end (cancelled, or a result too large to share)');
      return 'done';
    }
    if (full) await drained(feed, flight, o.key);
  }
}

/**
 * Waits until the clients here take what was relayed. Meanwhile the feed stays marked as read (every half mark), so
 * that a producer whose own clients leave runs on for these slower ones instead of cutting them mid-answer.
 */
function drained(feed: StoreFeed, flight: FeedTarget, key: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (flight.finished) clearInterval(timer);
      // A failed mark only risks the cut the mark is there to avoid; the read loop notices a store that is down.
      else feed.markRead(key).catch(() => undefined);
    }, feed.readMarkMs / 2);
    timer.unref();
    flight.onDrain(() => {
      clearInterval(timer);
      resolve();
    });
  });
}
