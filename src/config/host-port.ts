/** HOST:PORT addresses as written in the config (`127.0.0.1:9000`, `ch-writer:9000`, `[::1]:9000`). */
import { ConfigError } from './errors';

/** A parsed address; IPv6 hosts come back without their brackets. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

// Bracketed IPv6, or a host without colons or whitespace; then a decimal port.
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]|([^\s:[\]/]+)):([0-9]{1,5})$/;

/**
 * Parses HOST:PORT (port 1-65535), or returns undefined. With `allowAnyPort`, port 0 is accepted
 * too: for listeners, "any free port" (the ready line and the admin server say which).
 */
export function tryParseHostPort(s: string, allowAnyPort = false): HostPort | undefined {
  const m = HOST_PORT.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < (allowAnyPort ? 0 : 1) || port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

/** Parses HOST:PORT (port 1-65535); throws a ConfigError naming the value otherwise. */
export function parseHostPort(s: string, allowAnyPort = false): HostPort {
  const hp = tryParseHostPort(s, allowAnyPort);
  if (!hp) throw new ConfigError([{ path: '', message: hostPortMessage(s) }]);
  return hp;
}

/** The one wording of a bad address, shared by the schema and parseHostPort. */
export function hostPortMessage(s: string): string {
  return `expected HOST:PORT, got ${JSON.stringify(s)}`;
}

/** `host:port` again, with brackets for IPv6 (for net.connect/listen log lines and describeConfig). */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
