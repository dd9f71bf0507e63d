/**
 * A flight's feed in Redis: one stream per cache key (`<prefix>s:{key}`, same slot as the key's lock and channel), one
 * entry per recorded packet, ended by an `end` entry. Readers are told on the key's channel after each append and
 * poll besides (a lost message only costs latency). The stream expires by itself; it is never trimmed while it
 * lives, so a reader that comes late still reads from the start.
 */
import type { Cluster, Redis } from 'ioredis';
import type { ChannelListeners } from './redis-notify';
import type { RedisKeys } from './redis-keys';
import { isRedisMark } from './redis-mark';
import { FEED_READER_MARK_MS, type FeedItem, type FeedRead, type StoreFeed, type StoreMark } from './store';

/** The per-table invalidation counters of a RedisStore mark (an empty map for any other mark). */
function countersOf(mark: StoreMark): ReadonlyMap<string, string> {
  return isRedisMark(mark) ? mark.counters : new Map();
}

type Call = <T>(op: string, work: () => Promise<T>) => Promise<T>;

/** Stream field names (short: they are stored with every entry). */
const F = { kind: 'k', bytes: 'b', blockStart: 's', mark: 'm' } as const;

function toFields(item: FeedItem): (string | Buffer)[] {
  if (item.kind === 'start') return [F.kind, 'start', F.bytes, item.token, ...(item.mark !== undefined ? [F.mark, item.mark] : [])];
  if (item.kind === 'packet') return [F.kind, 'p', F.bytes, item.bytes, F.blockStart, String(item.blockStart)];
  return [F.kind, item.status, F.bytes, item.bytes ?? Buffer.alloc(0)];
}

function fromFields(fields: Buffer[]): FeedItem | null {
  const m = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!.toString('latin1'), fields[i + 1]!);
  const kind = m.get(F.kind)?.toString('latin1');
  const bytes = m.get(F.bytes) ?? Buffer.alloc(0);
  if (kind === 'start') {
    const mark = m.get(F.mark)?.toString('utf8');
    return mark === undefined ? { kind: 'start', token: bytes.toString('latin1') } : { kind: 'start', token: bytes.toString('latin1'), mark };
  }
  if (kind === 'p') return { kind: 'packet', bytes, blockStart: Number(m.get(F.blockStart)?.toString('latin1') ?? '0') };
  if (kind === 'ok' || kind === 'abandoned') return { kind: 'end', status: kind };
  if (kind === 'error') return { kind: 'end', status: 'error', bytes };
  return null;
}

export class RedisFeed implements StoreFeed {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly keys: RedisKeys,
    private readonly channels: ChannelListeners,
    private readonly call: Call,
    readonly readMarkMs: number = FEED_READER_MARK_MS,
  ) {}

  publish(key: string, items: readonly FeedItem[], ttlMs: number, fresh: boolean): Promise<void> {
    const stream = this.keys.feed(key);
    return this.call('feed.publish', async () => {
      // Stream, lock and channel share the key's hash tag: one node, one pipeline, applied in order.
      const p = this.client.pipeline();
      if (fresh) p.del(stream);
      for (const item of items) p.xadd(stream, '*', ...toFields(item));
      p.pexpire(stream, ttlMs);
      p.publish(this.keys.channel(key), 'feed');
      const results = (await p.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
    });
  }

  async read(key: string, after: string, count: number, waitMs: number): Promise<FeedRead | null> {
    const first = await this.look(key, after, count);
    if (first === null || first.items.length > 0 || waitMs <= 0) return first;
    // Nothing new yet: wait for the producer's next append (or the poll), then look once more.
    await new Promise<void>((resolve) => {
      const listening = this.channels.listen(this.keys.channel(key), () => done());
      const timer = setTimeout(() => done(), waitMs);
      let finished = false;
      function done(): void {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        listening.off();
        resolve();
      }
    });
    return this.look(key, after, count);
  }

  readers(key: string): Promise<boolean> {
    return this.call('feed.readers', async () => (await this.client.exists(this.keys.readers(key))) === 1);
  }

  markText(mark: StoreMark): string {
    return JSON.stringify([...countersOf(mark)]);
  }

  predates(producerMark: string | undefined, mine: StoreMark): boolean {
    if (producerMark === undefined) return false;
    let theirs: Map<string, string>;
    try {
      theirs = new Map(JSON.parse(producerMark) as [string, string][]);
    } catch {
      return true; // unreadable: nothing proves it does not predate
    }
    for (const [table, counter] of countersOf(mine)) if (theirs.get(table) !== counter) return true;
    return false;
  }

  markRead(key: string): Promise<void> {
    return this.call('feed.mark', async () => {
      await this.client.set(this.keys.readers(key), '1', 'PX', this.readMarkMs);
    });
  }

  private look(key: string, after: string, count: number): Promise<FeedRead | null> {
    const stream = this.keys.feed(key);
    return this.call('feed.read', async () => {
      const start = after === '0' ? '-' : `(${after}`;
      // One node (shared hash tag), one pipeline: the items and the lock holder seen at the same moment.
      // Every read also marks the feed as read (readers()), so its producer runs on for us if its own clients leave.
      const [rowsReply, lockReply, existsReply] = ((await this.client
        .pipeline()
        .xrangeBuffer(stream, start, '+', 'COUNT', count)
        .get(this.keys.lock(key))
        .exists(stream)
        .set(this.keys.readers(key), '1', 'PX', this.readMarkMs)
        .exec()) ?? []) as [Error | null, unknown][];
      for (const r of [rowsReply, lockReply, existsReply]) if (r?.[0]) throw r[0];
      const rows = (rowsReply?.[1] ?? []) as [Buffer, Buffer[]][];
      const producer = (lockReply?.[1] as string | null | undefined) ?? null;
      if (rows.length === 0 && existsReply?.[1] === 0 && producer === null) return null;
      const items: FeedItem[] = [];
      for (const [, fields] of rows) {
        const item = fromFields(fields);
        if (item !== null) items.push(item);
      }
      return { last: rows.length > 0 ? rows[rows.length - 1]![0].toString('latin1') : after, items, producer };
    });
  }
}
