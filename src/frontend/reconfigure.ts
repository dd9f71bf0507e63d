/**
 * Config reload on a running proxy (issue 6): users, their limits, routing rules, backends and the cache change
 * without dropping a client connection. Sessions read `proxy.deps` at each query, so replacing its fields changes
 * the next queries; a query in flight keeps what it started with (its run holds its own connection and options).
 */
import { HealthMonitor, type HealthOptions } from '../pool';
import type { CompiledRule } from '../router';
import type { ProxyUser } from './auth';
import type { Proxy } from './proxy';
import type { SessionCacheConfig } from './session-cache';
import type { ConnectionTimeouts } from './session-types';
import { NO_LIMITS } from './user-limits';
import { BackendRouter, backendTargets, type Backends } from './targets';

export interface Reconfiguration {
  backends: Backends;
  users: ProxyUser[];
  routing: { retries: number; readsFallbackToWriter: boolean; readAfterWriteMs: number; rules: CompiledRule[] };
  health: HealthOptions | null;
  cache: SessionCacheConfig | null;
  /**
   * connections.* timeouts. Open sessions read them at each check of their timer, so new values reach them too: the
   * Hello's from the next connection, the idle and receive timeouts within the shorter of the old two.
   */
  connectionTimeouts?: ConnectionTimeouts;
}

/** What changed hands: the caller re-attaches its listeners to a new health monitor and closes the old one. */
export interface Reconfigured {
  backendsChanged: boolean;
  oldHealth: HealthMonitor | null;
  newHealth: HealthMonitor | null;
}

/** Health checks for `backends`, logging in as each role's backend identity (`default` in pass-through mode). */
export function healthFor(backends: Backends, opts: HealthOptions): HealthMonitor {
  const targets = backendTargets(backends);
  const roles = new Map(targets.map((t) => [t.target, t.role]));
  const probe = { user: 'default', password: '' };
  const { readIdentity, writeIdentity } = backends;
  return new HealthMonitor(targets, (t) => (roles.get(t) === 'reader' ? readIdentity : writeIdentity) ?? probe, opts);
}

function sameBackends(a: Backends, b: Backends): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Applies `next` to `proxy` for the queries that start from now on. */
export function reconfigure(proxy: Proxy, next: Reconfiguration): Reconfigured {
  const deps = proxy.deps;
  const backendsChanged = !sameBackends(deps.config.backends, next.backends);
  const fallbackChanged = deps.router.options.readsFallbackToWriter !== next.routing.readsFallbackToWriter;
  let oldHealth: HealthMonitor | null = null;
  let newHealth: HealthMonitor | null = null;
  if (backendsChanged) {
    // New targets get new health state; the old monitor stops once nothing uses it (the caller closes it).
    oldHealth = deps.health;
    // Backend TLS is not reloadable (pools keep theirs): the new checks connect the same way.
    newHealth = next.health ? healthFor(next.backends, { ...next.health, tls: proxy.backendTls }) : null;
    newHealth?.start();
  }
  if (backendsChanged || fallbackChanged) {
    const health = backendsChanged ? newHealth : deps.health;
    const router = new BackendRouter(next.backends, health, { readsFallbackToWriter: next.routing.readsFallbackToWriter });
    deps.router = router;
    deps.health = health;
    proxy.router = router;
    proxy.health = health;
  }
  deps.config = {
    ...deps.config,
    backends: next.backends,
    users: next.users,
    routing: { retries: next.routing.retries, readAfterWriteMs: next.routing.readAfterWriteMs, rules: next.routing.rules },
    ...next.connectionTimeouts,
  };
  // Limits apply at once to the users' existing limiters (connections already open keep their slot).
  for (const u of next.users) proxy.limiters.get(u.name, u.limits ?? { ...NO_LIMITS });
  deps.cache = next.cache;
  return { backendsChanged, oldHealth, newHealth };
}
