/**
 * What `/ready` answers: ready to take traffic only once the writer and at least one reader have answered a health
 * check, so a load balancer does not send clients to a proxy whose queries could only fail.
 */

/** Ready, or the list of what is missing (one sentence each, for the operator reading the 503 body). */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly notReady: readonly string[] };

/** The part of a backend's health status readiness looks at (the pool's BackendStatus fits). */
export interface BackendHealth {
  readonly name: string;
  readonly role: 'writer' | 'reader';
  /** Not banned and no failure since the last success. */
  readonly healthy: boolean;
  /** When the last active check ended; null before the first one. */
  readonly lastCheckMs: number | null;
  /** A reader too far behind its writer takes no reads. */
  readonly lagging?: boolean;
}

/**
 * Ready when every writer (one per cluster) and at least one reader answered their last health check. With no
 * reader configured, reads go to the writer, so the writers are enough. A backend that answered once and fails now
 * is not ready either: readiness follows the current state, as the balancer does.
 */
export function backendReadiness(backends: readonly BackendHealth[]): Readiness {
  const notReady: string[] = [];
  for (const w of backends.filter((b) => b.role === 'writer')) {
    const why = problem(w);
    if (why) notReady.push(`writer ${w.name}: ${why}`);
  }
  const readers = backends.filter((b) => b.role === 'reader');
  if (readers.length > 0 && readers.every((r) => problem(r) !== null)) {
    notReady.push(`no reader takes reads (${readers.map((r) => `${r.name}: ${problem(r)}`).join('; ')})`);
  }
  if (backends.length === 0) notReady.push('no backend configured');
  return notReady.length === 0 ? { ready: true } : { ready: false, notReady };
}

/** Why a backend cannot serve now, or null when it can. */
function problem(b: BackendHealth): string | null {
  if (b.lastCheckMs === null) return 'no health check answered yet';
  if (!b.healthy) return 'failing its health checks';
  if (b.role === 'reader' && b.lagging === true) return 'replica delay too high';
  return null;
}
