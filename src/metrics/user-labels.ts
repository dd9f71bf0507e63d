/**
 * Bounds the values of the `user` label. Proxy users come from the config (a bounded set, always labelled by name);
 * in pass-through mode the name is whatever the client sent, so only the first `max` other names get a series of
 * their own and the rest share `other`: a client inventing user names must not grow the scrape without bound.
 */

/** The shared label value of users beyond the cap. */
export const OTHER_USER_LABEL = 'other';

/** Maps user names to `user` label values, first come first labelled. */
export class UserLabels {
  /** Configured users: labelled by name whatever the cap. */
  private readonly allowed = new Set<string>();
  /** Unconfigured names that got a label of their own. */
  private readonly seen = new Set<string>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`maxUserLabels must be an integer >= 0 (got ${max})`);
  }

  /** Names that always keep their own label (the proxy users of the config; called again after a reload). */
  allow(names: Iterable<string>): void {
    for (const n of names) this.allowed.add(labelName(n));
  }

  /** The label value for `user`. */
  label(user: string): string {
    const name = labelName(user);
    if (this.allowed.has(name) || this.seen.has(name)) return name;
    if (this.seen.size >= this.max) return OTHER_USER_LABEL;
    this.seen.add(name);
    return name;
  }
}

/** ClickHouse logs a client that sent no user name in as `default`; the label says so rather than "". */
function labelName(user: string): string {
  return user === '' ? 'default' : user;
}
