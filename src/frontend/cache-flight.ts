/**
 * One backend execution of a cacheable read shared by every client that asked for the same key while it runs
 * (single-flight, issue 5). The flight is the QueryRun's sink: it records the result for the cache (bounded by the
 * entry cap) and writes each packet to every subscriber as it arrives, encoded for that subscriber's compression.
 * The backend is paused while any subscriber's socket is full, so memory stays bounded by the slowest reader's
 * socket buffer plus the recording (itself capped).
 *
 * A client that joins late first gets the packets recorded so far, then the live ones; once the recording was given
 * up (over the cap) nobody can join, because the start of the result is gone.
 */
import { Recorder, entryPackets, makeEntry, type Entry, type StoreMark } from '../cache';
import {
  ServerCode,
  encodeForClient,
  recordPacket,
  type ClientCompression,
  type FramedPacket,
  type Limits,
  type RecordedPacket,
} from '../protocol';
import type { ClientSink } from './client-sink';
import { RunKeeper } from './run-keeper';
import { exceptionPacket, ProxyErrorCode, toReplyError } from './error-reply';
import type { QueryError } from './session-types';

/** Packets a cache entry holds (never Progress, Log, ProfileEvents: they describe one execution). */
const RECORDED: ReadonlySet<number> = new Set([ServerCode.Data, ServerCode.Totals, ServerCode.Extremes, ServerCode.ProfileInfo]);
/** Packets whose block travels in compressed frames when the query asked for compression. */
const COMPRESSIBLE: ReadonlySet<number> = new Set([ServerCode.Data, ServerCode.Totals, ServerCode.Extremes]);

export interface QueryOutcome {
  error?: QueryError;
}

/** A client reading a flight. */
export interface FlightSubscriber {
  readonly sink: ClientSink;
  /** How this client wants blocks (its Query's compression flag and method). */
  readonly compression: ClientCompression | null;
  /** The result ended for this client (its last packet is written). Called once. */
  onEnd(outcome: QueryOutcome): void;
}

/** What the flight needs from its owner (the ResultCache). */
export interface FlightOwner {
  /**
   * The result ended: `entry` is null when it must not be stored (failed, cancelled, over the cap); `overCap` says
   * the recording was given up because the result outgrew the entry cap.
   */
  complete(flight: Flight, entry: Entry | null, overCap: boolean): void;
}

/** The running backend query, as far as the flight drives it. */
export interface FlightRun {
  cancel(): void;
  abandon(): void;
  readonly finished: boolean;
}

function sameCompression(a: ClientCompression | null, b: ClientCompression | null): boolean {
  return a === null || b === null ? a === b : a.method === b.method;
}

/** Receives the flight's result for clients on other instances (cache-feed.ts). */
export interface FlightTap {
  packet(rec: RecordedPacket): void;
  /**
   * Whether clients on other instances read the result now (the Redis feed). When the flight's last client here
   * leaves, the run goes on for them instead of being cut.
   */
  remoteReaders?(): Promise<boolean>;
  /** The result ended: `ok` (EndOfStream), `error` (an Exception packet, given), `abandoned` (cancelled, left). */
  end(status: 'ok' | 'error' | 'abandoned', bytes?: Buffer): void;
}

interface Sub {
  readonly s: FlightSubscriber;
  full: boolean;
}

export class Flight {
  private readonly subs = new Set<Sub>();
  private recorder: Recorder | null;
  /** The recorded packets (same objects the recorder holds), for late joiners. */
  private prefix: RecordedPacket[] = [];
  private drainWaiters: (() => void)[] = [];
  private run: FlightRun | null = null;
  private tap: FlightTap | null = null;
  /** A packet was relayed from another instance's feed (relay()): no local run. */
  private relayed = false;
  private ended = false;
  /** The recording was given up because the result outgrew the entry cap. */
  private overCap = false;
  /** Runs with no subscriber (stale-while-revalidate refresh): it fills the cache for later clients. */
  readonly background: boolean;
  /** Whether the run goes on for other instances' readers once its last client here left. */
  private readonly keeper = new RunKeeper();

  private closedToJoiners = false;
  /** The invalidation mark of its run (set by ResultCache.prepareLead; null until then): joinCheck's. */
  joinMark: StoreMark | null = null;

  constructor(
    readonly key: string,
    private readonly owner: FlightOwner,
    private readonly o: {
      /** Compression of the backend query (the leader's): blocks in this form pass through unchanged. */
      wire: ClientCompression | null;
      maxEntryBytes: number;
      ttlMs: number;
      tables: readonly string[];
      revision: number;
      limits: Limits;
      /** A subscriber whose socket stays full this long is dropped (0: never). */
      maxPausedMs?: number;
      background?: boolean;
    },
  ) {
    this.recorder = new Recorder(o.maxEntryBytes);
    this.background = o.background === true;
  }

  /**
   * True while a client may still join (the whole result so far is recorded, it has not ended, and no write to a table
   * it reads was seen since it started).
   */
  get joinable(): boolean {
    return !this.ended && !this.closedToJoiners && this.recorder !== null && !this.recorder.abandoned;
  }

  /** The tables its query reads (the cache plan's, ALL_TABLES included). */
  get tables(): readonly string[] {
    return this.o.tables;
  }

  /**
   * A write to a table it reads was seen: a client that asks from now on must not get an answer that may predate that
   * write. The clients already here get it to the end (they asked before the write); it is not stored (the store's
   * invalidation mark).
   */
  closeToJoiners(): void {
    this.closedToJoiners = true;
  }

  /**
   * Still running, but closed to joiners by a write: it may hold the key's cross-instance lock, so a new execution of
   * the key runs without waiting on it (ResultCache.prepareLead's `unlocked`).
   */
  get predatesWrite(): boolean {
    return this.closedToJoiners && !this.ended;
  }

  get subscribers(): number {
    return this.subs.size;
  }

  get finished(): boolean {
    return this.ended;
  }

  /** Adds a client: it gets what was recorded so far, then every later packet. False when it cannot join. */
  join(s: FlightSubscriber): boolean {
    if (!this.joinable) return false;
    const sub: Sub = { s, full: false };
    this.subs.add(sub);
    for (const rec of this.prefix) this.writeTo(sub, encodeForClient(rec, s.compression));
    return true;
  }

  /** Feeds the result to other instances as it arrives. */
  setTap(tap: FlightTap): void {
    this.tap = tap;
  }

  /** The backend run that feeds this flight (set once it is placed; again after a retry on another reader). */
  attach(run: FlightRun): void {
    this.run = run;
  }

  /** A subscriber's Cancel: the backend query is cancelled only when nobody else reads it. */
  cancel(s: FlightSubscriber): void {
    const sub = this.find(s);
    if (!sub || this.ended) return;
    if (this.subs.size === 1 && !this.runsOn) {
      this.giveUpRecording(); // a cancelled result is cut short: never stored
      this.endTap('abandoned');
      this.run?.cancel();
      return;
    }
    // Others still read it: this client alone stops here, as a cancelled query ends (EndOfStream).
    this.subs.delete(sub);
    this.writeTo(sub, [Buffer.from([ServerCode.EndOfStream])]);
    sub.s.onEnd({});
    this.wakeDrainWaiters();
  }

  /** A subscriber's client went away. The last one leaving stops the backend query (unless it is a refresh). */
  leave(s: FlightSubscriber): void {
    const sub = this.find(s);
    if (!sub) return;
    this.subs.delete(sub);
    this.wakeDrainWaiters();
    if (this.subs.size > 0 || this.runsOn || this.ended) return;
    if (this.run === null || this.run.finished) {
      this.stop();
      return;
    }
    // Clients on other instances may be reading this run's feed: cutting it would cut them mid-answer.
    this.keeper.lastClientLeft(this.tap, () => this.subs.size === 0 && !this.ended, () => this.stop());
  }

  /** A refresh, or a run kept for other instances' clients: no client here leaving stops it. */
  private get runsOn(): boolean {
    return this.background || this.keeper.kept;
  }

  /** Nobody wants the result any more: the backend query is cancelled (or never placed), nothing is stored or fed. */
  private stop(): void {
    this.giveUpRecording();
    this.endTap('abandoned');
    if (this.run && !this.run.finished) this.run.abandon();
    else if (!this.run) this.end(null, {}); // not placed yet: nothing to stop
  }

  /** Another instance produced the result (Redis single-flight): replay it to every subscriber. */
  /**
   * A packet of a result running on another instance (its feed): broadcast to the clients here and kept for late
   * joiners like a packet of a local run. False when some client's socket is full (wait for onDrain).
   */
  relay(rec: RecordedPacket): boolean {
    if (this.ended) return true;
    this.relayed = true;
    if (this.recorder !== null) {
      if (this.recorder.add(rec)) this.prefix.push(rec);
      else this.giveUpRecording();
    }
    return this.broadcast(() => undefined, rec);
  }

  /** The other instance's result ended: EndOfStream, or its Exception packet. */
  relayEnd(exception: Buffer | null): void {
    if (this.ended) return;
    if (exception === null) return this.finishWith(Buffer.from([ServerCode.EndOfStream]), {});
    this.giveUpRecording();
    const code = exception.length >= 5 ? exception.readInt32LE(1) : 0;
    this.finishWith(exception, { error: { origin: 'backend', code } });
  }

  /** True once a packet from another instance reached the clients here (no local run can take over any more). */
  get relaying(): boolean {
    return this.relayed;
  }

  serveEntry(entry: Entry): void {
    if (this.ended) return;
    this.giveUpRecording(); // already stored by its producer
    for (const rec of entryPackets(entry)) this.broadcast(() => undefined, rec);
    this.finishWith(Buffer.from([ServerCode.EndOfStream]), {});
  }

  // ---- the QueryRun sink -------------------------------------------------------------------

  /** A server packet (or, without `p`, bytes the proxy made: its own Exception). */
  write(chunks: readonly Buffer[], p?: FramedPacket): boolean {
    if (this.ended) return true;
    if (!p) {
      // The proxy's query timeout: an Exception the server did not send; the rest is drained by the run.
      this.giveUpRecording();
      this.endTap('error', Buffer.concat(chunks));
      this.finishWith(Buffer.concat(chunks), { error: { origin: 'proxy', code: ProxyErrorCode.TIMEOUT_EXCEEDED } });
      return true;
    }
    if (p.code === ServerCode.EndOfStream) {
      this.endTap('ok');
      this.finishWith(Buffer.concat(p.chunks), {});
      return true;
    }
    if (p.code === ServerCode.Exception) {
      this.giveUpRecording();
      const bytes = Buffer.concat(p.chunks);
      this.endTap('error', bytes);
      const code = (p.packet as { exceptions?: { code: number }[] }).exceptions?.[0]?.code ?? 0;
      this.finishWith(bytes, { error: { origin: 'backend', code } });
      return true;
    }
    let rec: RecordedPacket | null = null;
    const recorded = (): RecordedPacket => (rec ??= recordPacket(p, this.o.limits));
    if (RECORDED.has(p.code) && this.tap !== null) this.tap.packet(recorded());
    if (RECORDED.has(p.code) && this.recorder !== null) {
      const r = recorded();
      if (this.recorder.add(r)) this.prefix.push(r);
      else {
        this.overCap = true;
        this.giveUpRecording();
      }
    }
    const wire = p.compressed ? this.o.wire : null;
    if (!COMPRESSIBLE.has(p.code)) return this.broadcast(() => p.chunks);
    return this.broadcast((c) => (sameCompression(c, wire) ? p.chunks : undefined), undefined, recorded);
  }

  onDrain(fn: () => void): void {
    if (this.ended || ![...this.subs].some((s) => s.full)) process.nextTick(fn);
    else this.drainWaiters.push(fn);
  }

  /** The flight never reads from a client (its client data was replayed from memory): nothing to pause. */
  pauseUntil(register: (resume: () => void) => void): void {
    register(() => undefined);
  }

  /** A proxy-made error (backend lost, no backend): every subscriber gets it. */
  sendError(err: unknown): void {
    if (this.ended) return;
    this.giveUpRecording();
    const bytes = exceptionPacket(err);
    this.endTap('error', bytes);
    this.finishWith(bytes, { error: { origin: 'proxy', code: toReplyError(err).chCode } });
  }

  // ---- internals ---------------------------------------------------------------------------

  /**
   * Writes one packet to every subscriber: `raw(compression)` gives the unchanged chunks when they fit that
   * subscriber, otherwise the recorded form is encoded (once per compression method).
   */
  private broadcast(
    raw: (c: ClientCompression | null) => readonly Buffer[] | undefined,
    rec?: RecordedPacket,
    recorded?: () => RecordedPacket,
  ): boolean {
    const encoded = new Map<string, Buffer[]>();
    let ok = true;
    for (const sub of this.subs) {
      const c = sub.s.compression;
      let chunks = rec === undefined ? raw(c) : undefined;
      if (chunks === undefined) {
        const tag = c === null ? 'none' : String(c.method);
        let e = encoded.get(tag);
        if (e === undefined) encoded.set(tag, (e = encodeForClient(rec ?? recorded!(), c)));
        chunks = e;
      }
      ok = this.writeTo(sub, chunks) && ok;
    }
    return ok;
  }

  private writeTo(sub: Sub, chunks: readonly Buffer[]): boolean {
    if (sub.s.sink.write(chunks)) return true;
    if (!sub.full) {
      sub.full = true;
      // One client that stops reading would pause the backend for every other: it is dropped after maxPausedMs.
      const limit = this.o.maxPausedMs ?? 0;
      const stalled = limit > 0 ? setTimeout(() => this.dropStalled(sub), limit) : null;
      stalled?.unref();
      sub.s.sink.onDrain(() => {
        if (stalled) clearTimeout(stalled);
        sub.full = false;
        this.wakeDrainWaiters();
      });
    }
    return false;
  }

  private dropStalled(sub: Sub): void {
    if (!sub.full || !this.subs.has(sub)) return;
    this.leave(sub.s);
    sub.s.sink.socket.destroy();
  }

  private wakeDrainWaiters(): void {
    if ([...this.subs].some((s) => s.full)) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const fn of waiters) fn();
  }

  private find(s: FlightSubscriber): Sub | undefined {
    for (const sub of this.subs) if (sub.s === s) return sub;
    return undefined;
  }

  private endTap(status: 'ok' | 'error' | 'abandoned', bytes?: Buffer): void {
    const tap = this.tap;
    this.tap = null;
    tap?.end(status, bytes);
  }

  private giveUpRecording(): void {
    this.recorder?.abandon();
    this.recorder = null;
    this.prefix = [];
  }

  /** Writes the last packet to everyone, ends them, and hands the recording to the owner. */
  private finishWith(last: Buffer, outcome: QueryOutcome): void {
    let entry: Entry | null = null;
    if (outcome.error === undefined && this.recorder !== null) {
      const rec = this.recorder.finish();
      if (rec !== null) {
        entry = makeEntry({ createdAt: Date.now(), ttlMs: this.o.ttlMs, tables: this.o.tables, revision: this.o.revision, ...rec });
      }
    }
    this.recorder = null;
    this.prefix = [];
    // EndOfStream or the Exception: each client gets it at once (ClientSink.flush).
    for (const sub of this.subs) {
      sub.s.sink.write([last]);
      sub.s.sink.flush();
    }
    this.end(entry, outcome);
  }

  private end(entry: Entry | null, outcome: QueryOutcome): void {
    if (this.ended) return;
    this.ended = true;
    this.endTap('abandoned'); // still open only if the flight ended without a last packet
    const subs = [...this.subs];
    this.subs.clear();
    this.owner.complete(this, entry, this.overCap);
    for (const sub of subs) sub.s.onEnd(outcome);
    this.wakeDrainWaiters();
  }
}
