/**
 * Cross-instance single-flight on the HTTP port, live: the instance that holds a key's lock feeds its answer into the
 * store as it arrives, and an instance whose requests for the same key came while the lock was held reads that feed
 * into its own flight, so its clients get the body as it is produced rather than after the end. The feed, its
 * batching, its ownership check (the producer's lock token) and the fallbacks are the native port's
 * (src/frontend/cache-feed.ts); only the items differ: the first packet item carries the answer's head (status and
 * headers, JSON), each later one a body chunk as the backend sent it.
 *
 * Only a 200 answer is fed. Any other ending (an error status, a failed or cut run, a body past the feed's cap) ends
 * the feed `abandoned`: a reader that relayed nothing yet runs the query itself, one that already relayed cuts its
 * clients (as a local follower would be cut), never a complete-looking answer.
 */
import type { Entry, StoreFeed } from '../cache';
import { FeedPublisher, type FeedOptions, type FeedTarget } from '../frontend/cache-feed';
import type { RecordedPacket } from '../protocol';
import type { HttpFlight, HttpFlightTap } from './flight';

interface FeedHead {
  s: number;
  h: string[];
}

/** The producer's side: the flight's head and chunks, appended in order (batched per tick by FeedPublisher). */
export class HttpFeedTap implements HttpFlightTap {
  private readonly publisher: FeedPublisher;

  constructor(feed: StoreFeed, token: string, o: FeedOptions) {
    this.publisher = new FeedPublisher(feed, token, o);
  }

  head(status: number, headers: readonly string[]): void {
    const head: FeedHead = { s: status, h: [...headers] };
    this.publisher.packet({ bytes: Buffer.from(JSON.stringify(head)), blockStart: 0 });
  }

  chunk(bytes: Buffer): void {
    this.publisher.packet({ bytes, blockStart: 0 });
  }

  end(status: 'ok' | 'abandoned'): void {
    this.publisher.end(status);
  }

  remoteReaders(): Promise<boolean> {
    return this.publisher.remoteReaders();
  }
}

/** The reader's side: a feed read into an HTTP flight (followFeed drives it). */
export class HttpFeedTarget implements FeedTarget {
  private headSeen = false;

  constructor(private readonly flight: HttpFlight) {}

  get finished(): boolean {
    return this.flight.aborted || this.flight.clients === 0;
  }

  get relaying(): boolean {
    return this.flight.started;
  }

  relay(rec: RecordedPacket): boolean {
    if (!this.headSeen) {
      this.headSeen = true;
      const head = parseHead(rec.bytes);
      if (head === null) {
        this.flight.fail(new Error('Gatehouse: unreadable answer head in the shared result feed'));
        return true;
      }
      this.flight.relayHead(head.s, head.h);
      return true;
    }
    return this.flight.write(rec.bytes);
  }

  relayEnd(exception: Buffer | null): void {
    // The HTTP producer ends a feed `ok` or `abandoned`, never `error` (an error answer is not fed).
    if (exception === null) this.flight.end();
    else this.flight.fail(new Error('Gatehouse: the shared run ended in an error'));
  }

  sendError(err: unknown): void {
    // The head and part of the body went out: the only honest signal left is a cut response.
    this.flight.fail(err);
  }

  serveEntry(entry: Entry): void {
    this.flight.serveEntry(entry);
  }

  onDrain(fn: () => void): void {
    this.flight.once('drain', fn);
  }
}

function parseHead(bytes: Buffer): FeedHead | null {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null) return null;
    const { s, h } = v as { s?: unknown; h?: unknown };
    if (typeof s !== 'number' || !Array.isArray(h) || !h.every((x) => typeof x === 'string')) return null;
    return { s, h: h as string[] };
  } catch {
    return null;
  }
}
