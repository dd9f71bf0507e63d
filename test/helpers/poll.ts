/** Waiting for a condition in integration tests, and reading one Prometheus sample. */

/** Resolves once `cond` holds; rejects after `ms` naming `what`. Polls every `everyMs`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * The value of one sample of `name` in Prometheus text (0 when absent). `labels` is a fragment of the label set as
 * written in the exposition, e.g. `reason="hint"`; without it, the unlabelled sample.
 */
export function sampleValue(text: string, name: string, labels = ''): number {
  const escaped = labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${name}${labels ? `\\{[^}]*${escaped}[^}]*\\}` : '(\\{\\})?'} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[m.length - 1]) : 0;
}
