/** Users: proxy users (who clients log in as) and backend identities (who the proxy logs in to the backends as). */
import { z } from 'zod';
import { cidrMessage, parseCidr } from './cidr';
import { ENV_NAME, ms, optionalCount, optionalMs, settingsMap } from './schema-fields';

/** An identity the proxy uses towards the backends. */
export const backendUserSchema = z.strictObject({
  name: z.string().min(1, 'must not be empty'),
  password: z.string().default(''),
});

const network = z.string().refine(
  (s) => parseCidr(s) !== undefined,
  (s) => ({ message: cidrMessage(s) }),
);

/** The keys that give a proxy user's password; exactly one per user. */
export const PASSWORD_KEYS = ['password', 'password_sha256_hex', 'password_env'] as const;

/** A user clients log in to the proxy as. */
export const proxyUserSchema = z
  .strictObject({
    name: z.string().min(1, 'must not be empty'),
    /** Plain text: from the --user flag only (a config file gives a hash or an environment variable). */
    password: z.string().optional(),
    password_sha256_hex: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits (SHA-256)').optional(),
    /** Name of an environment variable holding the plain password (read when the proxy starts). */
    password_env: z.string().regex(ENV_NAME, 'expected an environment variable name (letters, digits, _)').optional(),
    /** A readonly proxy user may only run reads. */
    readonly: z.boolean().default(false),
    /** Client addresses allowed to log in as this user; absent: any address. */
    networks: z.array(network).min(1, 'must not be empty (leave networks out to allow any address)').optional(),
    /** Database for clients whose Hello names none. */
    database: z.string().min(1, 'must not be empty').optional(),
    /** Backend identities for this user's reads and writes, over the global read_user / write_user. */
    read_user: backendUserSchema.optional(),
    write_user: backendUserSchema.optional(),
    /** Settings injected into every query of this user: they win over the client's settings, and a query or SET that tries to change one is refused (452). */
    settings: settingsMap.default({}),
    /** Client connections open at once as this user. */
    max_connections: optionalCount(),
    /** Queries running at once for this user; more wait in a queue of queue_size. */
    max_concurrent_queries: optionalCount(),
    /** Queries that may wait for a slot (0: refuse at once when max_concurrent_queries are running). */
    queue_size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    /** How long a queued query waits for a slot before it is refused. */
    queue_timeout_ms: ms(1, 5_000),
    /** Queries started per second (over all of the user's connections). */
    max_queries_per_second: z.number().positive().max(1e9).optional(),
    /** A query running longer is cancelled on the backend and answered with Exception 159. */
    query_timeout_ms: optionalMs(),
  })
  .superRefine((u, ctx) => {
    const given = PASSWORD_KEYS.filter((k) => u[k] !== undefined);
    if (given.length !== 1) {
      // A file never reaches here with `password` (load.ts reports and removes it), so name the file's choices.
      const choices = u.password === undefined ? 'password_sha256_hex, password_env' : PASSWORD_KEYS.join(', ');
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `set exactly one of ${choices}` });
    }
    if (u.queue_size > 0 && u.max_concurrent_queries === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['queue_size'],
        message: 'needs max_concurrent_queries (the queue holds queries waiting for one of those slots)',
      });
    }
  });
