/**
 * `gatehouse check-config FILE`: the file goes through the loader `serve --config FILE` uses (same interpolation, same
 * schema, every issue at once), so a file that passes here is one serve accepts. On success the effective
 * configuration is printed as YAML, defaults applied and secrets masked, for an operator to review before a reload.
 */
import { stringify } from 'yaml';
import { ConfigError } from './errors';
import { loadConfig } from './load';
import { redactConfig } from './redact';

/** The exit status of `serve` and `check-config` for an invalid configuration (1 stays for unexpected failures). */
export const INVALID_CONFIG_EXIT_CODE = 2;

/** What `serve` and `check-config` print on stderr for an invalid configuration: a headline, then one issue a line. */
export function invalidConfigText(err: ConfigError): string {
  return `gatehouse: invalid configuration\n${err.message}\n`;
}

/** The outcome of a check: what to print where, and the exit status. */
export type ConfigCheck =
  | { readonly exitCode: 0; readonly stdout: string }
  | { readonly exitCode: typeof INVALID_CONFIG_EXIT_CODE; readonly stderr: string };

/**
 * Loads `file` as serve would and returns the report. Only a ConfigError is an answer; anything else (a bug) is
 * thrown. No TLS certificate or key file is opened: their paths are printed as given.
 */
export function checkConfig(file: string, env: NodeJS.ProcessEnv = process.env): ConfigCheck {
  try {
    const cfg = loadConfig({ file, flags: {}, env });
    const header =
      `# ${file}: valid. The effective configuration (defaults applied; passwords, password hashes and Redis URL\n` +
      '# passwords shown as ***):\n';
    return { exitCode: 0, stdout: header + stringify(redactConfig(cfg), { lineWidth: 0 }) };
  } catch (err) {
    if (err instanceof ConfigError) return { exitCode: INVALID_CONFIG_EXIT_CODE, stderr: invalidConfigText(err) };
    throw err;
  }
}
