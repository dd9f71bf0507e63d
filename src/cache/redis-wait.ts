/**
 * Waiting for something another instance does in Redis (its entry stored, its lock released): look, then look again
 * when told on a channel or after a poll interval, until a look decides or the time is up. Polling stays on while
 * subscribed, because some changes send no message (a lock that expires) and a message can be lost (reconnection).
 */
import type { ChannelListeners } from './redis-notify';

/** Poll interval while subscribed to the channel (messages bring most answers sooner)… */
const POLL_SUBSCRIBED_MS = 50;
/** …and when subscribing failed. */
const POLL_UNSUBSCRIBED_MS = 15;

/** What one look found: an answer (`done`), or nothing yet. */
export type Look<T> = { readonly done: true; readonly value: T } | { readonly done: false };

/** What waitUntil needs. */
export interface WaitOptions<T> {
  readonly channels: ChannelListeners;
  /** Channel told when it is worth looking again. */
  readonly channel: string;
  /** One look; a rejection ends the wait with it. */
  look(): Promise<Look<T>>;
  /** Resolve with `fallback` after this long. */
  readonly timeoutMs: number;
  readonly fallback: T;
  /** Lets the owner end the wait early (its close()): call `abort(err)` to reject; returns the unregistration. */
  onAbort(abort: (err: unknown) => void): () => void;
}

/**
 * Resolves with the first decisive look's value, or `fallback` at the timeout; rejects when a look fails or on abort.
 * At most one look runs at a time; every timer and the channel listener are gone once it settles.
 */
export function waitUntil<T>(o: WaitOptions<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let looking = false;
    let lookAgain = false;
    let pollMs = POLL_SUBSCRIBED_MS;
    let pollTimer: NodeJS.Timeout | undefined;
    const finish = (err: unknown, value: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(pollTimer);
      listening.off();
      unregister();
      if (err === null) resolve(value);
      else reject(err);
    };
    const look = (): void => {
      if (settled) return;
      if (looking) {
        lookAgain = true; // told during a look: its answer may predate the news, so look once more after it
        return;
      }
      looking = true;
      clearTimeout(pollTimer);
      o.look().then(
        (r) => {
          looking = false;
          if (r.done) return finish(null, r.value);
          if (settled) return;
          if (lookAgain) {
            lookAgain = false;
            return look();
          }
          pollTimer = setTimeout(look, pollMs);
        },
        (err: unknown) => {
          looking = false;
          finish(err, o.fallback);
        },
      );
    };
    const deadline = setTimeout(() => finish(null, o.fallback), Math.max(0, o.timeoutMs));
    const listening = o.channels.listen(o.channel, look);
    const unregister = o.onAbort((err) => finish(err, o.fallback));
    // Subscribed before the first look, so news sent after that look cannot be missed.
    void listening.subscribed.then((ok) => {
      if (!ok) pollMs = POLL_UNSUBSCRIBED_MS;
      look();
    });
  });
}
