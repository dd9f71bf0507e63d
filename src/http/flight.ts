/**
 * One backend answer to a cacheable HTTP read, shared by every request for the same cache key that arrives while it
 * runs (single-flight, the HTTP counterpart of src/frontend/cache-flight.ts). The flight is the exchange's target: it
 * records the body for the cache (up to the entry cap) and writes each chunk to every client as it arrives, so a
 * follower gets the answer live, not after its end. A client that joins late first gets what was recorded so far;
 * once the recording was given up (over the cap) nobody can join any more, because the start of the body is gone.
 *
 * Who gets what:
 * - a 200 answer goes to everyone: the leader (the request that started the flight) with the backend's headers and
 *   `X-Cache: MISS`, followers with the headers a cache hit carries and `X-Cache: HIT`, `X-Cache-Status: COALESCED`;
 * - any other answer (an error) goes to the leader only: followers that got nothing yet are told to run the query
 *   themselves (`unanswered`), as they are when the run fails before its answer started; single-flight never turns
 *   into an error of its own;
 * - a run that fails after the answer started cuts every client that got part of it (as ClickHouse does when a query
 *   fails mid-stream: the client sees a truncated response, never a complete-looking one).
 *
 * Clients come and go independently: the leader leaving does not stop the answer for the others, a follower leaving
 * does not affect anyone; the last client leaving cuts the backend request (a background refresh has no client and
 * runs to its end). The backend is paused while any client's socket is full; a client that stays full for
 * `maxPausedMs` while others wait on it is dropped (streaming.max_paused_ms).
 */
import type { ServerResponse } from 'node:http';
import { HTTP_KEPT_HEADERS, type Entry, type StoreMark } from '../cache';
import type { AbortLink, Cut } from './backend-send';
import { HttpRecorder, replyFromCache } from './cache';
import { isHeaderValue, type Exchange, type ExchangeTarget } from './exchange';
import { RunKeeper } from '../frontend/run-keeper';

/** How the flight ended for one client. */
export type SubOutcome =
  /** Its whole response was written (`status` is the answer's). */
  | { kind: 'answered'; status: number; bytes: number }
  /** Its response had started when the run failed: the connection was cut. */
  | { kind: 'cut'; bytes: number; error: unknown }
  /** Its client went away first. */
  | { kind: 'gone'; bytes: number }
  /** Nothing was written to it: a follower runs the query itself, the leader answers `error`. */
  | { kind: 'unanswered'; error: unknown };

/** A client's place in a flight. */
export interface FlightSub {
  readonly done: Promise<SubOutcome>;
}

export interface HttpFlightOptions {
  key: string;
  maxEntryBytes: number;
  tables: readonly string[];
  ttlMs: number;
  /** A client whose socket stays full this long while others share the answer is dropped (0: never). */
  maxPausedMs: number;
  /** A background refresh (stale-while-revalidate): no client, runs to its end. */
  background: boolean;
}

/**
 * Receives a 200 answer as it passes, for clients of the same key on other instances (flight-feed.ts): the head, every
 * body chunk, and how it ended (`ok`: complete; `abandoned`: failed, not a 200, or cut).
 */
export interface HttpFlightTap {
  head(status: number, headers: readonly string[]): void;
  chunk(bytes: Buffer): void;
  end(status: 'ok' | 'abandoned'): void;
  /** Whether clients on other instances read the answer now: the run then goes on when its last client here leaves. */
  remoteReaders?(): Promise<boolean>;
}

interface Sub {
  readonly res: ServerResponse;
  /** Echoed in X-ClickHouse-Query-Id: the id the query runs with (the leader), else the client's own ('' none). */
  readonly queryId: string;
  /** Echoed when the answer comes from an entry (no query of its own ran): the client's own id. */
  readonly cachedQueryId: string;
  readonly leader: boolean;
  started: boolean;
  full: boolean;
  stall: NodeJS.Timeout | null;
  bytes: number;
  settled: boolean;
  settle(o: SubOutcome): void;
  readonly onClose: () => void;
}

type State =
  /** Before the answer's headers (including while the leader takes the lock and its slot). */
  | 'waiting'
  /** A 200 answer is passing to every client. */
  | 'streaming'
  /** A non-200 answer, for the leader alone. */
  | 'leaderOnly'
  /** The answer ended; `entry` holds it when it can be stored. */
  | 'complete'
  | 'failed';

export class HttpFlight implements ExchangeTarget, AbortLink {
  readonly key: string;
  readonly background: boolean;
  private state: State = 'waiting';
  private readonly subs = new Set<Sub>();
  private recorder: HttpRecorder | null;
  private status = 0;
  private raw: string[] = [];
  /** The headers a follower gets (those a cache hit keeps), computed once per answer. */
  private followerHead: string[] = [];
  private entryValue: Entry | null = null;
  private exchange: Exchange | null = null;
  private onCut: Cut | null = null;
  private abortedValue = false;
  private drainWaiters: (() => void)[] = [];
  private corked: ServerResponse[] = [];
  private tap: HttpFlightTap | null = null;
  /** Whether the run goes on for other instances' readers once its last client here left. */
  private readonly keeper = new RunKeeper();
  /** The answer comes from another instance's run (relayHead): every client here is answered as a follower. */
  private relayed = false;
  private closedToJoiners = false;
  /** The invalidation mark of a run of this instance (null: none, or the answer comes from elsewhere): joinCheck's. */
  joinMark: StoreMark | null = null;

  constructor(private readonly o: HttpFlightOptions) {
    this.key = o.key;
    this.background = o.background;
    this.recorder = new HttpRecorder(o.maxEntryBytes);
  }

  /** A client arriving now can get the whole answer from this flight (and no write to what it reads was seen since). */
  get joinable(): boolean {
    if (this.abortedValue || this.closedToJoiners) return false;
    if (this.state === 'waiting') return true;
    if (this.state === 'streaming') return this.recorder !== null && !this.recorder.overCap;
    return this.state === 'complete' && this.entryValue !== null;
  }

  /** The tables its query reads (the cache plan's, ALL_TABLES included). */
  get tables(): readonly string[] {
    return this.o.tables;
  }

  /**
   * A write to a table it reads was seen: requests from now on must not get an answer that may predate the write. The
   * clients already here get it to the end (they asked before the write); it is not stored (the invalidation mark).
   */
  closeToJoiners(): void {
    this.closedToJoiners = true;
  }

  /**
   * Still running, but closed to joiners by a write: it may hold the key's cross-instance lock, so a new run of the key
   * goes without waiting on it (cache-flight.ts, prepare's `unlocked`).
   */
  get predatesWrite(): boolean {
    return this.closedToJoiners && this.running;
  }

  /** The complete answer as a cache entry, once it ended (null: failed, not 200, over the cap, trailing exception). */
  get entry(): Entry | null {
    return this.entryValue;
  }

  /** The recording was given up because the body outgrew the entry cap. */
  get overCap(): boolean {
    return this.recorder?.overCap === true;
  }

  /** Nobody is left to answer (and it is no refresh): the run should not start, or was cut. */
  get aborted(): boolean {
    return this.abortedValue;
  }

  get clients(): number {
    return this.subs.size;
  }

  /** Runs with no client here to end it: a refresh, or a run kept for clients on other instances. */
  get unattended(): boolean {
    return this.background || this.keeper.kept;
  }

  /**
   * Adds a client. The leader is the request that runs the query (its response gets the backend's headers); a
   * follower joining a flight that already streams first gets the recorded part. Call only while `joinable` (or for
   * the leader, on a new flight). `cachedQueryId`: the id to echo if the answer comes from an entry (default `queryId`).
   */
  join(res: ServerResponse, queryId: string, leader = false, cachedQueryId = queryId): FlightSub {
    let settle!: (o: SubOutcome) => void;
    const done = new Promise<SubOutcome>((resolve) => (settle = resolve));
    const sub: Sub = {
      res,
      queryId,
      cachedQueryId,
      leader,
      started: false,
      full: false,
      stall: null,
      bytes: 0,
      settled: false,
      settle: (o) => {
        if (sub.settled) return;
        sub.settled = true;
        if (sub.stall) clearTimeout(sub.stall);
        res.off('close', sub.onClose);
        settle(o);
      },
      onClose: () => this.left(sub),
    };
    // A client that left before it joined has no 'close' to come.
    if (res.destroyed) {
      sub.settle({ kind: 'gone', bytes: 0 });
      return { done };
    }
    res.once('close', sub.onClose);
    this.subs.add(sub);
    if (this.state === 'streaming') {
      this.start(sub);
      for (const chunk of this.recorder?.recorded ?? []) this.writeTo(sub, chunk);
    } else if (this.state === 'complete' && this.entryValue !== null) {
      this.serveFrom(sub, this.entryValue);
    }
    return { done };
  }

  /** Feeds the answer to other instances as it arrives (this instance holds the key's lock). */
  setTap(tap: HttpFlightTap): void {
    this.tap = tap;
  }

  /**
   * The head of an answer another instance is running (cross-instance single-flight, flight-feed.ts); its body follows
   * through write() and end() as it arrives there. No client here ran the query: all get a follower's head.
   */
  relayHead(statusCode: number, headers: string[]): void {
    if (this.state !== 'waiting') return;
    this.relayed = true;
    this.writeHead(statusCode, headers);
  }

  /** Something of the answer reached a client here. */
  get started(): boolean {
    return this.state !== 'waiting';
  }

  // ---- AbortLink: the backend request in progress ------------------------------------------

  attach(exchange: Exchange, onCut: Cut | null): void {
    this.exchange = exchange;
    this.onCut = onCut;
    // Everyone left before it was dispatched: it never reaches the backend, nothing to kill.
    if (this.abortedValue) exchange.abort(new Error('every client of the shared query left'));
  }

  /** Cuts the backend request (the query timed out, or every client left); KILL QUERY when it was in flight. */
  abort(clientGone: boolean): void {
    if (this.abortedValue) return;
    this.abortedValue = true;
    const err = new Error(clientGone ? 'every client of the shared query left' : 'the query timed out');
    const at = this.exchange?.abort(err);
    if (at) this.onCut?.(clientGone, at);
  }

  // ---- ExchangeTarget: the backend's answer --------------------------------------------------

  cork(): void {
    for (const sub of this.subs) {
      if (sub.res.destroyed) continue;
      sub.res.cork();
      this.corked.push(sub.res);
    }
  }

  uncork(): void {
    const corked = this.corked;
    this.corked = [];
    // end() uncorks fully; uncorking again is then a no-op.
    for (const res of corked) if (res.writableCorked > 0) res.uncork();
  }

  get writableCorked(): number {
    return this.corked.length;
  }

  writeHead(statusCode: number, headers: string[]): void {
    this.status = statusCode;
    this.raw = headers;
    if (statusCode === 200) {
      this.state = 'streaming';
      const kept: string[] = [];
      for (let i = 0; i + 1 < headers.length; i += 2) {
        if (HTTP_KEPT_HEADERS.includes(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
      }
      this.followerHead = kept;
      this.tap?.head(statusCode, headers);
      for (const sub of this.subs) this.start(sub);
      return;
    }
    // An error answer: the leader's alone. Followers that got nothing run the query themselves.
    this.endTap('abandoned');
    this.state = 'leaderOnly';
    this.recorder = null;
    for (const sub of [...this.subs]) {
      if (sub.leader) this.start(sub);
      else this.release(sub, { kind: 'unanswered', error: null });
    }
  }

  write(chunk: Buffer): boolean {
    if (this.state === 'streaming') {
      // Past the cap the start of the body is gone: late clients cannot join, the recording is dropped.
      this.recorder?.add(chunk);
      this.tap?.chunk(chunk);
    }
    let ok = true;
    for (const sub of this.subs) if (sub.started) ok = this.writeTo(sub, chunk) && ok;
    return ok;
  }

  once(_event: 'drain', listener: () => void): void {
    if (!this.anyFull()) process.nextTick(listener);
    else this.drainWaiters.push(listener);
  }

  end(): void {
    if (this.state === 'failed') return; // nothing more for anyone (a relayed answer that broke off)
    if (this.state === 'streaming' && this.recorder !== null && !this.recorder.overCap) {
      this.entryValue = this.recorder.finish((name) => headerOf(this.raw, name), this.o.tables, this.o.ttlMs);
    }
    this.endTap(this.state === 'streaming' ? 'ok' : 'abandoned');
    this.recorder = null;
    this.state = 'complete';
    for (const sub of [...this.subs]) {
      if (!sub.started) continue; // cannot be: every client starts with the answer's head
      sub.res.end();
      this.release(sub, { kind: 'answered', status: this.status, bytes: sub.bytes });
    }
    this.wakeDrainWaiters();
  }

  // ---- how the run ended, from its owner ------------------------------------------------------

  /** The run failed: clients with part of the answer are cut, the others get nothing (`unanswered`). */
  fail(error: unknown): void {
    if (this.state === 'complete' || this.state === 'failed') return;
    this.endTap('abandoned');
    this.state = 'failed';
    this.recorder = null;
    for (const sub of [...this.subs]) {
      if (sub.started) {
        sub.res.destroy();
        this.release(sub, { kind: 'cut', bytes: sub.bytes, error });
      } else this.release(sub, { kind: 'unanswered', error });
    }
    this.wakeDrainWaiters();
  }

  /** Another instance produced the answer (cross-instance single-flight): every client gets the stored entry. */
  serveEntry(entry: Entry): void {
    if (this.state !== 'waiting') return;
    this.state = 'complete';
    this.recorder = null;
    this.entryValue = entry;
    for (const sub of [...this.subs]) this.serveFrom(sub, entry);
  }

  // ---- internals ---------------------------------------------------------------------------------

  /** Writes a 200 answer's head to one client. */
  private start(sub: Sub): void {
    if (sub.started || sub.res.destroyed) return;
    sub.started = true;
    const leader = sub.leader && !this.relayed;
    let head: string[];
    if (this.state === 'leaderOnly') head = [...this.raw];
    else if (leader) head = [...this.raw, 'X-Cache', 'MISS', 'X-Cache-Status', 'MISS'];
    else head = [...this.followerHead, 'X-Cache', 'HIT', 'X-Cache-Status', 'COALESCED'];
    // The leader's id is the one its query runs with; 18.16 sends no X-ClickHouse-Query-Id (later servers do). A client
    // here whose answer another instance ran gets its own id back, as from a cache entry.
    const hasId = leader && this.raw.some((n, i) => i % 2 === 0 && n.toLowerCase() === 'x-clickhouse-query-id');
    const id = this.relayed ? sub.cachedQueryId : sub.queryId;
    if (!hasId && id !== '' && isHeaderValue(id)) head.push('X-ClickHouse-Query-Id', id);
    sub.res.writeHead(this.status, head);
  }

  private serveFrom(sub: Sub, entry: Entry): void {
    if (sub.res.destroyed) return this.release(sub, { kind: 'gone', bytes: 0 });
    const n = replyFromCache(sub.res, entry, sub.cachedQueryId, 'COALESCED');
    this.release(sub, { kind: 'answered', status: 200, bytes: n });
  }

  private writeTo(sub: Sub, chunk: Buffer): boolean {
    if (sub.res.destroyed) return true; // its 'close' is on its way
    sub.bytes += chunk.length;
    if (sub.res.write(chunk)) return true;
    if (!sub.full) {
      sub.full = true;
      this.armStall(sub);
      sub.res.once('drain', () => {
        sub.full = false;
        if (sub.stall) clearTimeout(sub.stall);
        sub.stall = null;
        this.wakeDrainWaiters();
      });
    }
    return false;
  }

  /** A client that stopped reading pauses the backend for everyone: dropped after maxPausedMs when others wait. */
  private armStall(sub: Sub): void {
    if (this.o.maxPausedMs <= 0) return;
    sub.stall = setTimeout(() => {
      sub.stall = null;
      if (!sub.full || sub.settled) return;
      if (this.subs.size > 1) sub.res.destroy(); // its 'close' removes it
      else this.armStall(sub); // alone, it only holds up its own answer (as an unshared request would)
    }, this.o.maxPausedMs);
    sub.stall.unref();
  }

  private endTap(status: 'ok' | 'abandoned'): void {
    const tap = this.tap;
    this.tap = null;
    tap?.end(status);
  }

  private anyFull(): boolean {
    for (const sub of this.subs) if (sub.full) return true;
    return false;
  }

  private wakeDrainWaiters(): void {
    if (this.anyFull()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const fn of waiters) fn();
  }

  private release(sub: Sub, outcome: SubOutcome): void {
    this.subs.delete(sub);
    sub.settle(outcome);
  }

  /** A client's connection closed before its answer was complete. */
  private left(sub: Sub): void {
    if (sub.settled) return;
    this.release(sub, { kind: 'gone', bytes: sub.bytes });
    this.wakeDrainWaiters();
    if (this.subs.size > 0 || this.background || !this.running) return;
    // Clients on other instances may be reading this run's feed: cutting it would cut them mid-answer.
    this.keeper.lastClientLeft(this.tap, () => this.subs.size === 0 && this.running, () => this.abort(true));
  }

  private get running(): boolean {
    return this.state === 'waiting' || this.state === 'streaming' || this.state === 'leaderOnly';
  }
}

/** The last value of a header in a flat name, value list (names compared in lower case). */
function headerOf(raw: readonly string[], lower: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === lower) found = raw[i + 1];
  return found;
}
