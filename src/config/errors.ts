/** The one error configuration loading throws: every problem found, each with a dotted path. */

/**
 * One problem. `path` is the dotted config path (`readers.1`, `pool.min_idle`; flags report the path they set), or
 * for a file that cannot be read or parsed, the file name (with `:line:col` for YAML syntax errors).
 */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Invalid configuration. `message` has one line per issue: `readers.1: expected HOST:PORT, got "x"`. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG' as const;
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** One line per issue; an issue without a path is printed as `(config): ...`. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `${i.path === '' ? '(config)' : i.path}: ${i.message}`).join('\n');
}
