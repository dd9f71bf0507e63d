/**
 * The types a client session works with, shared by its parts (client-session.ts and the files it is split into:
 * query-placement.ts, client-handshake.ts, session-context.ts, …) and by the HTTP frontend.
 */
import type { BackendConnection, BackendTarget, HealthMonitor, Pool, PoolManager } from '../pool';
import type { ClientQuery, Limits } from '../protocol';
import type { Classification, CompiledRule } from '../router';
import type { ProxyUser } from './auth';
import type { BackendRouter, Backends, Route } from './targets';
import type { UserLimiters } from './user-limits';
import type { Flight } from './cache-flight';
import type { LoginGuard } from './login-guard';
import type { SessionCacheConfig } from './session-cache';

/** Who ran a query and which: for per-user metrics and the per-query log line. */
export interface QueryInfo {
  /** Proxy user, or the client's own user in pass-through mode. */
  user: string;
  kind: string;
  /** The client's query_id ('' when it sent none: the server made one up). */
  queryId: string;
}

/** How a failed query is counted: who raised the Exception the client got, and its code. */
export interface QueryError {
  origin: 'backend' | 'proxy';
  code: number;
}

export interface SessionEvents {
  query(route: Route | 'local', kind: string, info: QueryInfo): void;
  queryDone(route: Route | 'local', seconds: number, error: QueryError | undefined, info: QueryInfo): void;
  pinned(delta: 1 | -1): void;
  clientClosed(): void;
  /** Bytes relayed for a finished query. */
  bytes(toClient: number, toBackend: number): void;
}

export interface SessionConfig {
  backends: Backends;
  users: readonly ProxyUser[];
  poolMode: 'query' | 'session';
  resultBuffering: 'stream' | 'buffer';
  bufferMaxBytes: number;
  maxPendingClientBytes: number;
  /** A client that does not read its result for this long is closed and its query cancelled. */
  maxPausedMs: number;
  drainTimeoutMs: number;
  limits: Limits;
  /** Verify compressed-frame checksums of relayed client data (the backend verifies them anyway). */
  verifyChecksums: boolean;
  routing: { retries: number; readAfterWriteMs: number; rules: CompiledRule[] };
  /** A client must send its whole Hello within this (connections.handshake_timeout_ms; default 10 s). */
  handshakeTimeoutMs?: number;
  /** A logged-in client with no query sending nothing this long is closed (connections.idle_timeout_ms; default 1 h; 0: never). */
  idleTimeoutMs?: number;
  /** A client silent this long in the middle of a packet gets 209 and is closed (connections.receive_timeout_ms; default 300 s; 0: never). */
  clientReceiveTimeoutMs?: number;
}

/** The connections.* timeouts as sessions read them: set at start and by a reload, read by open sessions at each check. */
export type ConnectionTimeouts = Pick<SessionConfig, 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'clientReceiveTimeoutMs'>;

export interface SessionDeps {
  config: SessionConfig;
  pools: PoolManager;
  router: BackendRouter;
  health: HealthMonitor | null;
  limiters: UserLimiters;
  events: SessionEvents;
  /** Failed-login limit per client address (absent: none). */
  loginGuard?: LoginGuard | null;
  /** The result cache, when `cache.enabled`. */
  cache: SessionCacheConfig | null;
  log: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/** What the session lends a query: a pooled connection, or the session's pinned one. */
export interface Lease {
  conn: BackendConnection;
  pool: Pool;
  pinned: boolean;
  target: BackendTarget;
  group: string;
}

/** One query being placed on a backend, kept across retries of a read. */
export interface Attempt {
  q: ClientQuery;
  cls: Classification;
  route: Route;
  group: string;
  started: bigint;
  queryBytes: readonly Buffer[];
  /** Gives the query's slot back to the user's limiter. */
  admitted: (() => void) | null;
  /** Readers already tried. */
  tried: Set<string>;
  retriesLeft: number;
  /** Still retriable: a read whose client data (external tables) fits in the replay buffer. */
  retriable: boolean;
  /** The client's packets after the Query, to send again on a retry. */
  replay: (readonly Buffer[])[];
  replayBytes: number;
  /** The last pick after every reader failed (writer fallback or 279) was made. */
  fallbackTried?: boolean;
  /** A cacheable read: the run writes to this flight, which serves every client reading the same key. */
  flight?: Flight;
}

/** `fn` callable any number of times, running once (a query's slot must be given back exactly once). */
export function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** Errors that say the backend is unwell (counted by health, and worth a retry elsewhere). */
export function isBackendFault(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code;
  return code === 'ERR_BACKEND_UNAVAILABLE' || code === 'ERR_BACKEND_PROTOCOL';
}

/** What a read-only proxy user may run: reads, and USE/SET that need no pinned connection. */
export function readOnlyAllowed(cls: Classification): boolean {
  if (cls.pins) return false;
  return cls.kind === 'read' || cls.session?.type === 'use' || cls.session?.type === 'set';
}

/** Seconds since `started` (process.hrtime.bigint()). */
export function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}
