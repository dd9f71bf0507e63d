/**
 * One request to a backend's HTTP interface, its answer written straight into the client's response. Built on
 * undici's dispatch API rather than `request()`: no body stream, no pipe, no AbortSignal and no header object per
 * answer — on a `SELECT 1` those were a measurable share of the proxy's CPU (benchmarks/RESULTS.md, HTTP). The
 * client's socket is corked from the answer's headers to the end of the tick, so an answer that arrives in one read
 * (headers, body and the last chunk) leaves in one write instead of two.
 *
 * Backpressure: onData returns what `res.write` returns; false pauses the backend connection until `res` drains.
 */
import type { Dispatcher } from 'undici';
import { HOP_BY_HOP } from './outbound';

/**
 * Where an answer is written: the client's ServerResponse, or a flight that fans one answer out to several clients
 * (flight.ts). The subset of ServerResponse the exchange uses.
 */
export interface ExchangeTarget {
  cork(): void;
  uncork(): void;
  readonly writableCorked: number;
  /** Status and headers as a flat name, value list. */
  writeHead(statusCode: number, headers: string[]): unknown;
  /** False: stop until 'drain'. */
  write(chunk: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  end(): unknown;
}

export interface ExchangeOptions {
  /** Each body chunk as it passes to the client (byte counts, the cache's recorder). */
  onChunk(chunk: Buffer): void;
  /**
   * Leave `res` open when the answer is complete (the caller ends it: a write ends only after its cache
   * invalidation).
   */
  holdEnd: boolean;
  /** Headers added to a 200 answer, as a flat name, value list (the cache's `X-Cache: MISS`). */
  okHeaders: readonly string[];
  /**
   * The query's id ('' when none), sent back in X-ClickHouse-Query-Id when the backend sends no such header: 18.16
   * sends none, later servers always do, and a client needs the id the proxy chose to find its query.
   */
  queryId: string;
}

/** What the backend answered, as far as the caller needs it after the relay. */
export interface AnswerHead {
  statusCode: number;
  /** The exception code of an error answer (X-ClickHouse-Exception-Code, else the head of its body), or null. */
  exceptionCode: number | null;
  /** Response headers by lower-case name (the last of repeated ones): for the cache's kept headers. */
  header(name: string): string | undefined;
}

type Phase = 'sent' | 'streaming' | 'complete' | 'failed';
/** Where an exchange was when an abort cut it (Exchange.abort). */
export type CutAt = 'sent' | 'streaming';

export class Exchange implements Dispatcher.DispatchHandlers {
  /** Resolves when the answer's headers arrived (the backend answered), rejects when the request failed before. */
  readonly answered: Promise<AnswerHead>;
  /** Resolves when the whole answer went to `res`, rejects when it failed midway (or the exchange was aborted). */
  readonly finished: Promise<void>;
  private phase: Phase = 'sent';
  private abortFn: ((err?: Error) => void) | null = null;
  private abortedWith: Error | null = null;
  private raw: string[] = [];
  private hasQueryId = false;
  private head: AnswerHead | null = null;
  /** An error answer's headers wait for the first body chunk, which carries the code 18.16 does not put in a header. */
  private headPending = false;
  private resumeFn: (() => void) | null = null;
  private resolveAnswered!: (h: AnswerHead) => void;
  private rejectAnswered!: (e: Error) => void;
  private resolveFinished!: () => void;
  private rejectFinished!: (e: Error) => void;

  constructor(
    private readonly res: ExchangeTarget,
    private readonly o: ExchangeOptions,
  ) {
    this.answered = new Promise((resolve, reject) => {
      this.resolveAnswered = resolve;
      this.rejectAnswered = reject;
    });
    this.finished = new Promise((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    // Only one of the two settles on a given failure; the other must not become an unhandled rejection.
    this.answered.catch(() => undefined);
    this.finished.catch(() => undefined);
  }

  /**
   * Cuts the backend request (the client went away, or the query timed out). Returns how far it had got when it was
   * still in flight, so that its query may still run on the backend: 'sent' (no answer yet: the request may even
   * still be on its way, and its query start after a kill looked for it) or 'streaming'; null when it had ended.
   */
  abort(err: Error): CutAt | null {
    if (this.phase === 'complete' || this.phase === 'failed') return null;
    const at = this.phase;
    this.abortedWith = err;
    if (this.abortFn) this.abortFn(err);
    return at;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.abortedWith) abort(this.abortedWith);
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 100 Continue and other interim answers are this hop's
    this.resumeFn = resume;
    let code: number | null = null;
    const raw: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      // latin1 both ways: the bytes of a header reach the client unchanged (node:http writes header strings as latin1).
      const name = headers[i]!.toString('latin1');
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) continue;
      const value = headers[i + 1]!.toString('latin1');
      if (lower === 'x-clickhouse-exception-code') code = positiveInt(value);
      else if (lower === 'x-clickhouse-query-id') this.hasQueryId = true;
      raw.push(name, value);
    }
    this.raw = raw;
    this.phase = 'streaming';
    const head: AnswerHead = { statusCode, exceptionCode: code, header: (name) => this.headerValue(name) };
    this.head = head;
    this.res.cork();
    process.nextTick(uncorkResponse, this.res);
    if (statusCode >= 400 && code === null) this.headPending = true;
    else this.writeHead();
    this.resolveAnswered(head);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.headPending) {
      this.head!.exceptionCode = bodyExceptionCode(chunk);
      this.writeHead();
    }
    this.o.onChunk(chunk);
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', () => this.resumeFn?.());
    return ok;
  }

  onComplete(): void {
    if (this.headPending) this.writeHead();
    this.phase = 'complete';
    if (!this.o.holdEnd) this.res.end();
    this.resolveFinished();
  }

  onError(err: Error): void {
    const before = this.phase === 'sent';
    this.phase = 'failed';
    const e = this.abortedWith ?? err;
    if (before) this.rejectAnswered(e);
    else this.rejectFinished(e);
  }

  private writeHead(): void {
    this.headPending = false;
    const head = this.head!;
    const raw = this.raw;
    // 18.16 puts an error's code in its body only; newer clients (@clickhouse/client) read it from this header.
    if (head.statusCode >= 400 && head.exceptionCode !== null && !raw.some((n, i) => i % 2 === 0 && n.toLowerCase() === 'x-clickhouse-exception-code')) {
      raw.push('X-ClickHouse-Exception-Code', String(head.exceptionCode));
    }
    if (head.statusCode === 200) raw.push(...this.o.okHeaders);
    if (this.o.queryId !== '' && !this.hasQueryId && isHeaderValue(this.o.queryId)) raw.push('X-ClickHouse-Query-Id', this.o.queryId);
    this.res.writeHead(head.statusCode, raw);
  }

  private headerValue(name: string): string | undefined {
    let found: string | undefined;
    for (let i = 0; i + 1 < this.raw.length; i += 2) if (this.raw[i]!.toLowerCase() === name) found = this.raw[i + 1];
    return found;
  }
}

function uncorkResponse(res: ExchangeTarget): void {
  // end() uncorks fully; uncorking again is then a no-op.
  if (res.writableCorked > 0) res.uncork();
}

/**
 * Whether node:http accepts `v` as a header value (its checkInvalidHeaderChar): a client's query_id may hold
 * anything, and writeHead would throw on a control character.
 */
export function isHeaderValue(v: string): boolean {
  return !/[^\t\x20-\x7e\x80-\xff]/.test(v);
}

function positiveInt(v: string): number | null {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** The code at the start of an error body (`Code: 60, e.displayText() = …`). */
export function bodyExceptionCode(chunk: Buffer): number | null {
  const m = /^Code: (\d+)/.exec(chunk.subarray(0, 32).toString('latin1'));
  return m ? Number(m[1]) : null;
}
