/**
 * Proxy user passwords. In a config file a user gives a SHA-256 hash or the name of an environment variable holding
 * the plain password; plain text in the file is refused (it would sit in backups and diffs). The --user flag may
 * still give a plain password.
 */
import { ConfigError, type ConfigIssue } from './errors';
import { ENV_NAME } from './schema-fields';
import type { ProxyUser } from './schema';

/** How a user's password is checked: compare against the plain text's hash, or against the stored hash. */
export type UserPassword = { readonly kind: 'plain'; readonly password: string } | { readonly kind: 'sha256'; readonly sha256Hex: string };

/** Says why `password:` is refused in a file, and what to write instead. */
export const PLAIN_PASSWORD_IN_FILE =
  'a plain password is not allowed in a config file: set password_sha256_hex (echo -n PASSWORD | sha256sum) ' +
  'or password_env (the name of an environment variable holding it)';

/**
 * The password of a user as the proxy checks it: the plain text (from --user or from the variable password_env names)
 * or the stored SHA-256 (lower-case hex). Throws ConfigError when password_env names an unset variable.
 */
export function resolveUserPassword(
  user: Pick<ProxyUser, 'name' | 'password' | 'password_sha256_hex' | 'password_env'>,
  env: NodeJS.ProcessEnv = process.env,
): UserPassword {
  if (user.password_sha256_hex !== undefined) return { kind: 'sha256', sha256Hex: user.password_sha256_hex.toLowerCase() };
  if (user.password_env !== undefined) {
    const value = env[user.password_env];
    if (value === undefined) {
      throw new ConfigError([
        { path: 'users', message: `environment variable ${user.password_env} (password of user ${JSON.stringify(user.name)}) is not set` },
      ]);
    }
    return { kind: 'plain', password: value };
  }
  return { kind: 'plain', password: user.password ?? '' };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reports every `users[i].password` of a parsed config file. The file is refused either way; the plain password is
 * removed when the user has another source, so the schema does not also complain about two passwords (and kept
 * when it is the only one, so the schema does not complain about none).
 */
export function takePlainPasswords(raw: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const users = raw.users;
  if (!Array.isArray(users)) return issues;
  users.forEach((u: unknown, i) => {
    if (isRecord(u) && Object.prototype.hasOwnProperty.call(u, 'password')) {
      issues.push({ path: `users.${i}.password`, message: PLAIN_PASSWORD_IN_FILE });
      if (u.password_sha256_hex !== undefined || u.password_env !== undefined) delete u.password;
    }
  });
  return issues;
}

/** One issue per user whose password_env names a variable that `env` lacks. */
export function unsetPasswordEnvIssues(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const users = raw.users;
  if (!Array.isArray(users)) return [];
  return users.flatMap((u: unknown, i): ConfigIssue[] => {
    if (!isRecord(u) || typeof u.password_env !== 'string' || !ENV_NAME.test(u.password_env)) return [];
    if (env[u.password_env] !== undefined) return [];
    return [{ path: `users.${i}.password_env`, message: `environment variable ${u.password_env} is not set` }];
  });
}
