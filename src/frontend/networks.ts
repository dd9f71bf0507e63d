/**
 * Allowed client networks: CIDR parsing and matching for a proxy user's `networks` list.
 *
 * Every address is held as 16 bytes: IPv4 as its IPv4-mapped IPv6 form (::ffff:a.b.c.d, RFC 4291 §2.5.5.2),
 * with 96 added to its prefix. So `10.0.0.0/8` matches the `::ffff:10.1.2.3` that a dual-stack Node
 * listener reports in `socket.remoteAddress`, and `::ffff:10.0.0.0/104` means the same network.
 * An IPv4 network never matches a native IPv6 address; `::/0` matches everything.
 */

/** A CIDR list entry that is not an address or address/prefix. */
export class CidrError extends Error {
  readonly code = 'ERR_BAD_CIDR';
  constructor(readonly input: string, reason: string) {
    super(`invalid network ${JSON.stringify(input)}: ${reason}`);
    this.name = 'CidrError';
  }
}

/** One parsed network. */
export interface Cidr {
  /** The family the network was written in. */
  readonly family: 4 | 6;
  /** Prefix length in the written family's bits: 0..32 for IPv4, 0..128 for IPv6. */
  readonly prefix: number;
  /** The network address (host bits cleared) as 16 bytes, IPv4 in its ::ffff: form. */
  readonly bytes: Uint8Array;
  /** Canonical text, e.g. `10.0.0.0/8`, `fd00::/8`. */
  readonly text: string;
}

/**
 * Parses `address` or `address/prefix` (IPv4 or IPv6; a bare address is a single host). Host bits
 * after the prefix are cleared, as ClickHouse's `<ip>` does. Throws CidrError.
 */
export function parseCidr(s: string): Cidr {
  const slash = s.indexOf('/');
  const addrText = slash === -1 ? s : s.slice(0, slash);
  const parsed = parseAddress(addrText);
  if (parsed === undefined) throw new CidrError(s, 'not an IPv4 or IPv6 address');
  const { family } = parsed;
  const maxPrefix = family === 4 ? 32 : 128;
  let prefix = maxPrefix;
  if (slash !== -1) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > maxPrefix) {
      throw new CidrError(s, `prefix must be an integer from 0 to ${maxPrefix}`);
    }
    prefix = Number(p);
  }
  const bytes = masked(parsed.bytes, family === 4 ? prefix + 96 : prefix);
  return { family, prefix, bytes, text: `${formatAddress(bytes, family)}/${prefix}` };
}

/** A list of allowed networks; an empty list allows every address. */
export class NetworkList {
  readonly cidrs: readonly Cidr[];

  /** Throws CidrError for the first entry that does not parse. */
  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs.map(parseCidr);
  }

  /**
   * Whether a client at `address` (as in `socket.remoteAddress`: IPv4, IPv6, IPv4-mapped IPv6, or
   * with a `%zone`) may connect. An address that does not parse is refused unless the list is empty.
   */
  allows(address: string): boolean {
    if (this.cidrs.length === 0) return true;
    const a = parseAddress(address.replace(/%[^%]*$/, ''));
    if (a === undefined) return false;
    return this.cidrs.some((c) => contains(c, a.bytes));
  }
}

function contains(c: Cidr, addr: Uint8Array): boolean {
  const bits = c.family === 4 ? c.prefix + 96 : c.prefix;
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (addr[i] !== c.bytes[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[whole] & mask) === c.bytes[whole];
}

function masked(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = bytes[i] & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

interface ParsedAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

function parseAddress(s: string): ParsedAddress | undefined {
  if (s.includes(':')) {
    const bytes = parseIPv6(s);
    return bytes && { family: 6, bytes };
  }
  const v4 = parseIPv4(s);
  if (v4 === undefined) return undefined;
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(v4, 12);
  return { family: 4, bytes };
}

/** Strict dotted quad: four decimal parts 0..255, no leading zeros (which some parsers read as octal). */
function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/** RFC 4291 §2.2 text forms: eight groups, one `::`, optionally a dotted-quad tail. */
function parseIPv6(s: string): Uint8Array | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const words: number[] = [];
  const all = [...head, ...tail];
  for (let i = 0; i < all.length; i++) {
    const g = all[i];
    // A dotted-quad tail only as the very last group (never just before `::`).
    if (i === all.length - 1 && g.includes('.') && (halves.length === 1 || tail.length > 0)) {
      const v4 = parseIPv4(g);
      if (v4 === undefined) return undefined;
      words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
      words.push(parseInt(g, 16));
    } else {
      return undefined;
    }
  }
  let full: number[];
  if (halves.length === 2) {
    if (words.length > 7) return undefined; // `::` stands for at least one zero group
    full = [...words.slice(0, head.length), ...new Array<number>(8 - words.length).fill(0), ...words.slice(head.length)];
  } else {
    if (words.length !== 8) return undefined;
    full = words;
  }
  const out = new Uint8Array(16);
  full.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

function formatAddress(bytes: Uint8Array, family: 4 | 6): string {
  if (family === 4) return Array.from(bytes.subarray(12)).join('.');
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  // RFC 5952 §4.2: the longest run of two or more zero groups becomes `::` (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}
