/**
 * One subscriber connection shared by every waitForEntry of a store: channels are subscribed while someone waits on
 * them and unsubscribed when the last waiter leaves, so nothing accumulates. A subscription is only a hint to look
 * again sooner: waiters also poll, which covers a lost message, a subscriber that is down, and a lock that expired
 * (an expiry sends no message).
 */
import type { Cluster, Redis } from 'ioredis';

/** A waiter's registration on a channel. */
export interface Listening {
  /** Resolves true once the channel is subscribed, false if subscribing failed (then poll faster). Never rejects. */
  readonly subscribed: Promise<boolean>;
  /** Removes the listener; the channel is unsubscribed when it was the last. Idempotent. */
  off(): void;
}

/** Channel → listeners, over one subscriber client. */
export class ChannelListeners {
  private readonly listeners = new Map<string, Set<() => void>>();
  /** The SUBSCRIBE of each subscribed channel, shared by its listeners. */
  private readonly subscribing = new Map<string, Promise<boolean>>();
  /**
   * Channels left without listeners whose UNSUBSCRIBE failed (connection down). ioredis resubscribes every channel it
   * had on reconnection, so these are unsubscribed again once it is back, or they would stay subscribed forever.
   */
  private readonly orphans = new Set<string>();

  constructor(private readonly subscriber: Redis | Cluster) {
    subscriber.on('message', (channel: string) => {
      const set = this.listeners.get(channel);
      if (set !== undefined) for (const cb of [...set]) cb();
    });
    // 'ready' is emitted on the tick after ioredis sent its resubscriptions, so this UNSUBSCRIBE comes after them.
    subscriber.on('ready', () => {
      for (const channel of [...this.orphans]) this.unsubscribe(channel);
    });
  }

  /** Calls `cb` on each message on `channel` until off(). */
  listen(channel: string, cb: () => void): Listening {
    let set = this.listeners.get(channel);
    if (set === undefined) {
      this.listeners.set(channel, (set = new Set()));
      this.orphans.delete(channel);
      // Commands on one connection run in order, so a SUBSCRIBE after an UNSUBSCRIBE of the same channel wins.
      const p = this.subscriber.subscribe(channel).then(
        () => true,
        () => false,
      );
      this.subscribing.set(channel, p);
    }
    set.add(cb);
    const subscribed = this.subscribing.get(channel) ?? Promise.resolve(false);
    let done = false;
    return {
      subscribed,
      off: () => {
        if (done) return;
        done = true;
        const s = this.listeners.get(channel);
        if (s === undefined || !s.delete(cb) || s.size > 0) return;
        this.listeners.delete(channel);
        this.subscribing.delete(channel);
        this.unsubscribe(channel);
      },
    };
  }

  private unsubscribe(channel: string): void {
    this.orphans.delete(channel);
    this.subscriber.unsubscribe(channel).catch(() => {
      if (!this.listeners.has(channel)) this.orphans.add(channel);
    });
  }

  /** Channels with at least one listener (for tests and diagnostics). */
  get channelCount(): number {
    return this.listeners.size;
  }
}
