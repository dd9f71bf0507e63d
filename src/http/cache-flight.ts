/**
 * A cacheable HTTP read through the result cache (issue 7, the HTTP counterpart of src/frontend/session-cache.ts):
 * answered from the store (hit; past the soft TTL a stale hit that starts one background refresh), from the flight
 * already running for its key (single-flight: it gets that answer live), or by leading a new flight on a backend.
 *
 * Across instances sharing Redis, a leader takes the store's lock of the key first; when another instance holds it,
 * the leader (and the clients that joined its flight here) wait for that instance's entry for at most
 * `cache.lock_timeout_ms`, then run the query themselves if none came (the producer failed, gave up on an answer too
 * large to store, or went away).
 *
 * Whatever happens to a shared run, a client that got nothing from it runs its own query: single-flight never makes an
 * error of its own.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { StoreLock, StoreMark } from '../cache';
import { ProxyErrorCode, replyError, toReplyError } from '../frontend/error-reply';
import { closeRunsReading, failureReason, type ResultCache } from '../frontend/result-cache';
import { seconds, type QueryError, type QueryInfo } from '../frontend/session-types';
import type { Route } from '../frontend/targets';
import type { BackendTarget } from '../pool';
import { send, type OnCut } from './backend-send';
import { replyFromCache, type HttpCacheRead } from './cache';
import { sendError } from './errors';
import type { AnswerHead } from './exchange';
import { HttpFlight } from './flight';
import { HttpFeedTap, HttpFeedTarget } from './flight-feed';
import { followFeed, type FeedOptions } from '../frontend/cache-feed';
import type { HandlerContext } from './handler';

/** The flights of this HTTP frontend by cache key: at most one that new requests can join per key. */
export class HttpFlights {
  private readonly byKey = new Map<string, HttpFlight>();
  /** The result cache whose invalidations close flights to joiners (the current one: a reload may replace it). */
  private watched: ResultCache | null = null;
  private stopWatching: (() => void) | null = null;

  /** The flight of `key`, joinable or not (a refresh is not started while one runs). */
  get(key: string): HttpFlight | undefined {
    return this.byKey.get(key);
  }

  /**
   * Makes `f` the flight of its key (replacing one nobody can join any more). Writes seen by `cache` (either port's)
   * close the flights reading what they wrote to later requests (HttpFlight.closeToJoiners).
   */
  add(f: HttpFlight, cache: ResultCache): void {
    if (this.watched !== cache) {
      this.stopWatching?.();
      this.watched = cache;
      this.stopWatching = cache.watchInvalidations((tables) => closeRunsReading(this.byKey.values(), tables));
    }
    this.byKey.set(f.key, f);
  }

  /** Forgets `f` once its answer is stored (or was not storable). */
  remove(f: HttpFlight): void {
    if (this.byKey.get(f.key) === f) this.byKey.delete(f.key);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The server is closing: runs with no client here (refreshes, runs kept for other instances) are cut. */
  close(): void {
    this.stopWatching?.();
    this.stopWatching = null;
    this.watched = null;
    for (const f of this.byKey.values()) if (f.unattended) f.abort(false);
  }
}

/** How a request reaches a backend: built by the handler for the id the query runs with. */
export interface BackendCall {
  route: Route;
  group: string;
  /** The user's query_timeout_ms (0: none); it applies to a shared run as a whole. */
  timeoutMs: number;
  build(target: BackendTarget, route: Route): Dispatcher.DispatchOptions;
  /** KILL QUERY for a request cut while its query may run on (http.kill_on_client_close), or null. */
  onCut: OnCut | null;
}

/** A cacheable read as the handler hands it over. */
export interface CacheableRequest {
  ctx: HandlerContext;
  res: ServerResponse;
  read: HttpCacheRead;
  /** The client's query_id ('' when none): echoed by answers that ran no query of their own. */
  clientQueryId: string;
  /** The id the query runs with when this request leads (the client's, or one the proxy chose). */
  queryId: string;
  /** The backend request for a query id: the request's own, or a background refresh's (a fresh id, same route). */
  callFor(queryId: string): BackendCall;
  info: QueryInfo;
  /** Bytes of the body sent to the backend when it leads. */
  bodyBytes: number;
}

/**
 * What became of the request: `answered` (by the cache, a shared run, or its own run as a flight's leader), `run`
 * (a shared run gave it nothing: run it alone, recording for the cache as a miss), `bypass` (the store failed: run it
 * alone without the cache).
 */
export type CachePathResult = 'answered' | 'run' | 'bypass';

type Outcome = QueryError | undefined;

const GONE: Outcome = { origin: 'proxy', code: ProxyErrorCode.NETWORK_ERROR };

export async function serveCacheable(c: CacheableRequest): Promise<CachePathResult> {
  const { ctx, res, read } = c;
  const { events } = ctx.deps;
  const cache = read.cfg.cache;
  const started = process.hrtime.bigint();
  const got = await cache.get(read.key);
  if (got !== null && 'bypass' in got) {
    cache.events.bypass(got.bypass);
    return 'bypass';
  }
  if (got !== null) {
    cache.events.hit();
    const softTtlMs = read.plan.softTtlMs;
    const stale = softTtlMs !== null && Date.now() - got.createdAt >= softTtlMs;
    if (stale) {
      cache.events.staleServed();
      refresh(c);
    }
    events.query('local', c.info.kind, c.info);
    events.bytes(replyFromCache(res, got, c.clientQueryId, stale ? 'STALE' : 'HIT'), 0);
    events.queryDone('local', seconds(started), undefined, c.info);
    return 'answered';
  }
  cache.events.miss();
  const running = ctx.flights.get(read.key);
  if (running !== undefined && (await mayJoin(cache, running))) {
    cache.events.singleflightWait('process');
    const out = await running.join(res, c.clientQueryId).done;
    if (out.kind === 'unanswered') return 'run';
    events.query('local', c.info.kind, c.info);
    events.bytes(out.bytes, 0);
    const outcome: Outcome = out.kind === 'answered' ? undefined : out.kind === 'gone' ? GONE : { origin: 'proxy', code: toReplyError(out.error).chCode };
    events.queryDone('local', seconds(started), outcome, c.info);
    return 'answered';
  }
  // A run here that predates a write may hold the key's lock: this one goes without it (prepare's `unlocked`).
  await lead(c, started, running?.predatesWrite === true);
  return 'answered';
}

/** Whether a request may join `f`: joinable, and (shared store) not older than a write made through another instance. */
async function mayJoin(cache: ResultCache, f: HttpFlight): Promise<boolean> {
  if (!f.joinable) return false;
  const check = cache.joinCheck(f);
  return check === null || ((await check) && f.joinable);
}

/** Runs the query as a new flight that later requests for the same key join. */
async function lead(c: CacheableRequest, started: bigint, unlocked: boolean): Promise<void> {
  const { ctx, res, read } = c;
  const cache = read.cfg.cache;
  const flight = newFlight(c, false);
  ctx.flights.add(flight, cache);
  const sub = flight.join(res, c.queryId, true, c.clientQueryId);
  if (flight.clients === 0) flight.abort(true); // its client left before it joined: nobody to run it for
  const call = c.callFor(c.queryId);
  let answer: AnswerHead | null = null;
  let route: Route | 'local' = call.route;
  try {
    // The leader's slot of its user's limits was taken by the handler before the cache was read.
    if (flight.aborted) throw replyError(ProxyErrorCode.NETWORK_ERROR, 'the client closed the connection'); // nobody left
    const prepared = await prepare(ctx, cache, flight, read, unlocked);
    if (prepared === 'served') {
      route = 'local';
      ctx.flights.remove(flight);
    } else answer = await runFlight(ctx, cache, flight, call, prepared);
  } catch (e) {
    // Refused or left before the run: the clients that joined meanwhile run the query themselves.
    flight.fail(e);
    ctx.flights.remove(flight);
  }
  const out = await sub.done;
  let outcome: Outcome;
  let bytes = 0;
  if (out.kind === 'answered') {
    bytes = out.bytes;
    outcome = out.status >= 400 ? { origin: 'backend', code: answer?.exceptionCode ?? 0 } : undefined;
  } else if (out.kind === 'unanswered') {
    outcome = res.destroyed ? GONE : { origin: 'proxy', code: sendError(res, out.error).chCode };
  } else if (out.kind === 'cut') {
    bytes = out.bytes;
    outcome = { origin: 'proxy', code: toReplyError(out.error).chCode };
  } else {
    bytes = out.bytes;
    outcome = GONE;
  }
  const info = route === 'local' ? c.info : { ...c.info, queryId: c.queryId };
  ctx.deps.events.query(route, info.kind, info);
  ctx.deps.events.bytes(bytes, route === 'local' ? 0 : c.bodyBytes);
  ctx.deps.events.queryDone(route, seconds(started), outcome, info);
}

function newFlight(c: CacheableRequest, background: boolean): HttpFlight {
  const { plan, key } = c.read;
  return new HttpFlight({
    key,
    maxEntryBytes: c.read.cfg.cache.maxEntryBytes,
    tables: plan.tables,
    ttlMs: plan.ttlMs,
    maxPausedMs: c.ctx.deps.config.maxPausedMs,
    background,
  });
}

interface Lead {
  /** Taken before the backend reads anything (null: the store failed, nothing is stored). */
  mark: StoreMark | null;
  /** The cross-instance lock, held until the entry is stored (null: none). */
  lock: StoreLock | null;
}

/**
 * Before a leader's backend request: the invalidation mark, then the cross-instance lock. When another instance holds
 * the lock, waits for its entry and serves it to the flight's clients ('served'); when none comes, runs unlocked.
 * `unlocked`: the lock may be held by a run of this instance that predates a write: no lock is taken or waited for.
 */
async function prepare(ctx: HandlerContext, cache: ResultCache, flight: HttpFlight, read: HttpCacheRead, unlocked: boolean): Promise<Lead | 'served'> {
  /** Running it here after all: a new mark (the run starts now). */
  const fresh = async (): Promise<Lead> => {
    const mark = await cache.store.mark(read.plan.tables);
    flight.joinMark = mark;
    return { mark, lock: null };
  };
  try {
    const mark = await cache.store.mark(read.plan.tables);
    // A followed run is checked against this mark too: followFeed follows only one whose mark is the same.
    flight.joinMark = mark;
    if (unlocked) return { mark, lock: null };
    const lock = await cache.store.lock(read.key, cache.lockTimeoutMs);
    const feed = cache.store.feed;
    if (lock !== null) {
      // Requests for the same key on other instances read the answer from the store as it arrives (flight-feed.ts).
      if (feed) flight.setTap(new HttpFeedTap(feed, lock.token, feedOptions(ctx, cache, read.key, mark)));
      return { mark, lock };
    }
    cache.events.singleflightWait('cluster');
    if (feed) {
      // Another instance runs it: its answer streams here live; run it here only if it went away before sending any.
      const followed = await followFeed(cache.store, feed, new HttpFeedTarget(flight), feedOptions(ctx, cache, read.key, mark));
      if (followed === 'done') return 'served';
      return fresh();
    }
    const entry = await cache.store.waitForEntry(read.key, cache.lockTimeoutMs);
    if (entry !== null) {
      flight.serveEntry(entry);
      return 'served';
    }
    // The other instance stored nothing (failed, too large) or is gone: run it here, with a new mark.
    return fresh();
  } catch (e) {
    storeFailed(ctx, cache, 'prepare', e);
    return { mark: null, lock: null };
  }
}

/**
 * The flight's backend request, then its entry stored and the lock freed (in that order: another instance waiting on
 * the lock finds the entry). Resolves with the answer's head (null when the run failed); never rejects.
 */
async function runFlight(ctx: HandlerContext, cache: ResultCache, flight: HttpFlight, call: BackendCall, lead: Lead): Promise<AnswerHead | null> {
  let answer: AnswerHead | null = null;
  try {
    if (flight.aborted) flight.fail(replyError(ProxyErrorCode.NETWORK_ERROR, 'every client of the shared query left'));
    else {
      let timedOut = false;
      const timer = call.timeoutMs > 0 ? setTimeout(() => ((timedOut = true), flight.abort(false)), call.timeoutMs) : null;
      try {
        const options = { onChunk: noop, holdEnd: false, okHeaders: [], queryId: '' };
        const sent = await send(ctx, call.route, call.group, true, flight, call.onCut, options, flight, call.build);
        try {
          answer = await sent.exchange.answered;
          await sent.exchange.finished;
        } finally {
          sent.done();
        }
      } catch (e) {
        flight.fail(
          timedOut ? replyError(ProxyErrorCode.TIMEOUT_EXCEEDED, `query exceeded the user's query_timeout_ms (${call.timeoutMs} ms) and was cancelled`) : e,
        );
      } finally {
        if (timer) clearTimeout(timer);
      }
    }
    if (flight.overCap) cache.events.bypass('too_large');
    const entry = flight.entry;
    if (entry !== null && lead.mark !== null) {
      try {
        if (await cache.store.set(flight.key, entry, lead.mark)) cache.events.stored();
        else cache.events.bypass('not_stored'); // a table it read was invalidated while it ran
      } catch (e) {
        storeFailed(ctx, cache, 'set', e);
      }
    }
  } finally {
    if (lead.lock !== null) await lead.lock.release().catch((e: unknown) => storeFailed(ctx, null, 'unlock', e));
    ctx.flights.remove(flight);
  }
  return answer;
}

/**
 * Stale-while-revalidate: one background run of the query refreshes the entry, as the proxy (the route and backend
 * identity the request would use, no client, no slot of the user's limits; its query_timeout_ms applies). Not started
 * while a run of the key is in progress here, nor when another instance holds the key's lock (it is refreshing it).
 */
function refresh(c: CacheableRequest): void {
  const { ctx, read } = c;
  if (ctx.flights.get(read.key) !== undefined) return;
  const cache = read.cfg.cache;
  const flight = newFlight(c, true);
  ctx.flights.add(flight, cache);
  void (async () => {
    let lead: Lead;
    try {
      lead = { mark: await cache.store.mark(read.plan.tables), lock: await cache.store.lock(read.key, cache.lockTimeoutMs) };
    } catch (e) {
      storeFailed(ctx, cache, 'refresh', e);
      lead = { mark: null, lock: null };
    }
    if (lead.mark === null || lead.lock === null) {
      // Another instance runs it (or the store is down): no refresh here. Misses that joined run on their own.
      flight.fail(replyError(ProxyErrorCode.NETWORK_ERROR, 'refresh not started'));
      ctx.flights.remove(flight);
      return;
    }
    const feed = cache.store.feed;
    if (feed) flight.setTap(new HttpFeedTap(feed, lead.lock.token, feedOptions(c.ctx, cache, read.key, lead.mark)));
    flight.joinMark = lead.mark;
    cache.events.refresh();
    await runFlight(ctx, cache, flight, c.callFor(randomUUID()), lead);
  })();
}

/** As the native port's feeds (result-cache.ts): a feed may carry up to four entries' worth before it is abandoned. */
function feedOptions(ctx: HandlerContext, cache: ResultCache, key: string, mark: StoreMark | null): FeedOptions {
  return { key, lockTimeoutMs: cache.lockTimeoutMs, maxFeedBytes: 4 * cache.maxEntryBytes, log: ctx.deps.log, onKept: () => cache.events.runKept(), mark };
}

function storeFailed(ctx: HandlerContext, cache: ResultCache | null, op: string, e: unknown): void {
  if (cache) cache.events.bypass(failureReason(e));
  ctx.deps.log('debug', 'cache store call failed; the query bypasses the cache', { op, error: (e as Error).message });
}

function noop(): void {}
