/**
 * Validation of allowed client networks (`users[].networks`): CIDR blocks, IPv4 and IPv6. Matching client addresses
 * is src/frontend/networks.ts's job; this parser accepts exactly what that one does (checked by a test).
 */
import { isIP } from 'node:net';

/** One parsed block; a bare address is a block of one (/32 or /128). */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Parses `10.0.0.0/8`, `::1/128`, `fe80::/10` or a bare address; undefined if it is none of these. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  // A zone id (fe80::1%eth0) names an interface, not a network.
  if (address.includes('%')) return undefined;
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const p = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max) return undefined;
  return { address, prefix: Number(p), family };
}

/** The one wording of a bad network entry. */
export function cidrMessage(s: string): string {
  return `expected an IPv4 or IPv6 network (10.0.0.0/8, ::1/128) or address, got ${JSON.stringify(s)}`;
}
