import type { BackendIdentity, BackendTarget, PoolManager, ServerInfo } from '../pool';
import { MIN_SUPPORTED_REVISION, type ClientHello } from '../protocol';
import { authenticate, type ProxyUser } from './auth';
import { ProxyErrorCode, replyError, type ReplyError } from './error-reply';
import type { SessionConfig } from './session-types';
import type { BackendRouter, Route } from './targets';
import { isLimitRefusal, NO_LIMITS, type UserLimiter, type UserLimiters } from './user-limits';

export interface Login {
  /** The proxy user, or null when the client's credentials pass through to the backends. */
  user: ProxyUser | null;
  limiter: UserLimiter | null;
  /** Gives the connection's slot back to the user's limiter. */
  releaseConnection: (() => void) | null;
}

/**
 * The checks on a client's Hello that need no backend: supported revision; with backend
 * identities configured, a proxy user with the right password (516), connecting from an allowed
 * network (195), within max_connections (202).
 */
export function checkLogin(hello: ClientHello, config: SessionConfig, limiters: UserLimiters, remoteAddress: string): Login | ReplyError {
  if (hello.revision < MIN_SUPPORTED_REVISION) {
    return replyError(ProxyErrorCode.UNEXPECTED_PACKET_FROM_CLIENT,
      `client revision ${hello.revision} is below the lowest supported (${MIN_SUPPORTED_REVISION})`);
  }
  const identitiesSet = Boolean(config.backends.readIdentity || config.backends.writeIdentity);
  if (!identitiesSet) return { user: null, limiter: null, releaseConnection: null };
  const user = authenticate(config.users, hello.user, hello.password);
  if (!user) {
    return replyError(ProxyErrorCode.AUTHENTICATION_FAILED,
      `${hello.user}: Authentication failed: password is incorrect or there is no user with such name`);
  }
  if (user.networks && !user.networks.allows(remoteAddress)) {
    return replyError(ProxyErrorCode.IP_ADDRESS_NOT_ALLOWED, `user ${user.name} is not allowed to connect from ${remoteAddress} (networks)`);
  }
  const limiter = limiters.get(user.name, user.limits ?? { ...NO_LIMITS });
  const c = limiter.connect();
  if (isLimitRefusal(c)) return replyError(c.chCode, c.message);
  return { user, limiter, releaseConnection: c };
}

/**
 * What the proxy presents in its Hello (issue 3, native-protocol.md §13.3): the writer's name,
 * version and time zone, or a reader's while the writer has never been reachable. A refused
 * login (pass-through with a wrong password) is final; only unreachable backends fall back.
 */
export async function findServerInfo(
  router: BackendRouter,
  pools: PoolManager,
  identityFor: (route: Route) => BackendIdentity,
): Promise<ServerInfo | { error: unknown }> {
  const candidates: [BackendTarget, Route][] = [[router.writer, 'writer'], ...router.readers().map((r): [BackendTarget, Route] => [r, 'reader'])];
  let lastError: unknown = null;
  for (const [target, route] of candidates) {
    try {
      return await pools.serverInfo(target, identityFor(route));
    } catch (e) {
      lastError = e;
      if ((e as { exception?: unknown }).exception) break;
    }
  }
  return { error: lastError };
}
