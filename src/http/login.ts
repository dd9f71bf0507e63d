/**
 * Who an HTTP request runs as: the HTTP counterpart of frontend/login.ts checkLogin. Every request carries its own
 * credentials (HTTP has no handshake), so each is checked: the login guard first (a blocked address is refused
 * before any password is looked at), then the proxy users, then the user's networks. Without backend identities
 * configured the client's own credentials pass through and the backend checks them.
 */
import { authenticate, type ProxyUser } from '../frontend/auth';
import { ProxyErrorCode, replyError, type ReplyError } from '../frontend/error-reply';
import type { SessionDeps } from '../frontend/session-types';
import { NO_LIMITS, type UserLimiter } from '../frontend/user-limits';
import { HttpErrorCode } from './errors';
import type { Credentials } from './request';

export interface HttpLogin {
  /** The proxy user, or null in pass-through mode. */
  user: ProxyUser | null;
  limiter: UserLimiter | null;
}

/**
 * Checks a request's credentials. A wrong password (or unknown user: the proxy never says which) is refused as 18.16
 * refuses a wrong password over HTTP, 401 with code 193, and counted by the login guard.
 */
export function httpLogin(creds: Credentials, deps: SessionDeps, remoteAddress: string): HttpLogin | ReplyError {
  const { config, limiters } = deps;
  const guard = deps.loginGuard;
  const identitiesSet = Boolean(config.backends.readIdentity || config.backends.writeIdentity);
  if (!identitiesSet) return { user: null, limiter: null };
  const waitMs = guard?.blockedFor(remoteAddress) ?? 0;
  if (waitMs > 0) {
    return replyError(HttpErrorCode.WRONG_PASSWORD, `too many failed logins from this address; try again in ${Math.ceil(waitMs / 1000)} s`);
  }
  const user = authenticate(config.users, creds.user, creds.password);
  if (!user) {
    if (guard?.failed(remoteAddress)) deps.log('warn', 'failed logins: address blocked', { address: remoteAddress });
    return replyError(HttpErrorCode.WRONG_PASSWORD, `${creds.user}: Authentication failed: password is incorrect or there is no user with such name`);
  }
  if (user.networks && !user.networks.allows(remoteAddress)) {
    return replyError(ProxyErrorCode.IP_ADDRESS_NOT_ALLOWED, `user ${user.name} is not allowed to connect from ${remoteAddress} (networks)`);
  }
  guard?.succeeded(remoteAddress);
  // max_connections counts native connections; an HTTP request holds none of its own, so only query limits apply.
  return { user, limiter: limiters.get(user.name, user.limits ?? { ...NO_LIMITS }) };
}
