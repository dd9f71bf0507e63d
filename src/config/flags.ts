/** Command-line flags of `gatehouse serve`, mapped onto the raw (not yet validated) config object. */
import type { ConfigIssue } from './errors';

/** Flag values as commander hands them over; a repeated flag arrives as a list and replaces the file's list. */
export interface FlagValues {
  /** --listen HOST:PORT */
  listen?: string;
  /** --writer HOST:PORT */
  writer?: string;
  /** --reader HOST:PORT, repeatable */
  reader?: string[];
  /** --user NAME:PASSWORD, repeatable */
  user?: string[];
  /** --read-user NAME[:PASSWORD] */
  readUser?: string;
  /** --write-user NAME[:PASSWORD] */
  writeUser?: string;
  /** --admin HOST:PORT */
  admin?: string;
  /** --config FILE */
  config?: string;
}

/**
 * Writes the given flags over `raw` (a parsed config file, or {}); returns issues for flags that do not parse, at the
 * config path they set (`users.1: --user expects NAME:PASSWORD, ...`).
 */
export function applyFlags(raw: Record<string, unknown>, flags: FlagValues): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (flags.listen !== undefined) raw.listen = flags.listen;
  if (flags.writer !== undefined) raw.writer = flags.writer;
  if (flags.admin !== undefined) raw.admin = flags.admin;
  if (flags.reader !== undefined) raw.readers = [...flags.reader];
  if (flags.user !== undefined) {
    raw.users = flags.user.map((spec, i) => {
      const colon = spec.indexOf(':');
      // Without a colon the value is only a name, so echoing it leaks no password.
      const problem = colon < 0 ? `got ${JSON.stringify(spec)}` : colon === 0 ? 'the name is empty' : undefined;
      if (problem) issues.push({ path: `users.${i}`, message: `--user expects NAME:PASSWORD, ${problem}` });
      return colon < 0 ? { name: spec, password: '' } : { name: spec.slice(0, colon), password: spec.slice(colon + 1) };
    });
  }
  for (const [flag, key, value] of [
    ['--read-user', 'read_user', flags.readUser],
    ['--write-user', 'write_user', flags.writeUser],
  ] as const) {
    if (value === undefined) continue;
    const colon = value.indexOf(':');
    const name = colon < 0 ? value : value.slice(0, colon);
    if (name === '') issues.push({ path: key, message: `${flag} expects NAME[:PASSWORD], the name is empty` });
    raw[key] = colon < 0 ? { name } : { name, password: value.slice(colon + 1) };
  }
  return issues;
}
