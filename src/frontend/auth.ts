import type { BackendIdentity } from '../pool';
import type { NetworkList } from './networks';
import type { UserLimitOptions } from './user-limits';
import { createHash, timingSafeEqual } from 'node:crypto';

export interface ProxyUser {
  name: string;
  /** Plain password or its SHA-256 (hex); exactly one is set. */
  password?: string;
  passwordSha256Hex?: string;
  readonly: boolean;
  /** Networks the user may connect from (absent: anywhere). */
  networks?: NetworkList;
  /** Default database when the client's Hello names none. */
  database?: string;
  /** Backend identities of this user (override the global read/write users). */
  readIdentity?: BackendIdentity;
  writeIdentity?: BackendIdentity;
  /** Settings injected into every query of this user (they win over the client's). */
  settings?: { name: string; value: string }[];
  /** Connection, concurrency and rate limits (absent: none). */
  limits?: UserLimitOptions;
  /** The proxy cancels a query running longer and answers Exception 159. */
  queryTimeoutMs?: number;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks a login against the proxy users in constant time per candidate (the hash of what the
 * client sent is compared with the stored hash, so password length does not leak either).
 * Returns the user or null; never says which part was wrong.
 */
export function authenticate(users: readonly ProxyUser[], name: string, password: string): ProxyUser | null {
  const user = users.find((u) => u.name === name);
  const given = sha256(password);
  const expected = user
    ? user.passwordSha256Hex !== undefined
      ? Buffer.from(user.passwordSha256Hex, 'hex')
      : sha256(user.password ?? '')
    : sha256('\u0000no such user\u0000');
  const ok = expected.length === given.length && timingSafeEqual(expected, given);
  return user && ok ? user : null;
}
