/** Backends and routing: reader entries, named backend groups, health checks, routing options and rules. */
import { z } from 'zod';
import { LABEL_NAME, hostPort, ms, settingsMap } from './schema-fields';

/** A reader written as a mapping: address, weight (share of reads), optional name (metrics, /status). */
const readerObject = z.strictObject({
  address: hostPort,
  weight: z.number().int().min(1).max(1_000_000).default(1),
  name: z.string().regex(LABEL_NAME, 'expected letters, digits, _, . or -').optional(),
});

/**
 * A reader: "HOST:PORT" (weight 1) or `{ address, weight, name }`. The name is filled in by the top-level schema,
 * which knows the reader's group and position.
 */
export const readerEntrySchema = z
  .union([hostPort, readerObject])
  .transform((r): { address: string; weight: number; name: string | undefined } =>
    typeof r === 'string' ? { address: r, weight: 1, name: undefined } : { address: r.address, weight: r.weight, name: r.name },
  );

/** A named backend group: another writer with its readers (one proxy in front of several clusters). */
export const groupSchema = z.strictObject({
  writer: hostPort,
  readers: z.array(readerEntrySchema).default([]),
});

/** Names a group may not have: the top-level writer/readers form `default`, and rules use writer/readers as targets. */
export const RESERVED_GROUP_NAMES: readonly string[] = ['default', 'writer', 'readers'];

/** Background health checks, bans and replica lag. */
export const healthSchema = z
  .strictObject({
    /** A Ping per backend on a dedicated connection, this often. */
    interval_ms: ms(1, 2_000),
    /** A check not answered in this time is a failure. */
    timeout_ms: ms(1, 1_000),
    /** Consecutive failures (checks, connect or protocol errors) that ban a backend. */
    failures_to_ban: z.number().int().min(1).max(1_000).default(3),
    /** First ban; each further ban in a row doubles it, up to max_ban_ms. */
    ban_ms: ms(1, 5_000),
    max_ban_ms: ms(1, 60_000),
    /** Readers lagging more than this are skipped while others are healthy; null: lag is not checked. */
    max_replica_delay_s: z.number().min(0).max(1e9).nullable().default(null),
    /** Returns the replica's delay in seconds (one number). */
    replica_delay_query: z.string().min(1, 'must not be empty').default('SELECT max(absolute_delay) FROM system.replicas'),
  })
  .superRefine((h, ctx) => {
    if (h.max_ban_ms < h.ban_ms) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['max_ban_ms'], message: `must be >= health.ban_ms (${h.ban_ms})` });
    }
  });

/** Statement kinds a rule can match (the router's StatementKind). */
export const RULE_KINDS = ['read', 'write', 'session', 'unknown'] as const;

/** A JavaScript regular expression over the normalized SQL, compiled at load so a bad one is a config error. */
export const sqlPattern = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((p, ctx) => {
    try {
      new RegExp(p);
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    }
  });

/** One routing rule: a match, then a target, a deny message, or settings to inject. */
export const ruleSchema = z
  .strictObject({
    /** Every given condition must hold; an empty match matches every statement. */
    match: z
      .strictObject({
        user: z.string().min(1, 'must not be empty').optional(),
        database: z.string().min(1, 'must not be empty').optional(),
        kind: z.enum(RULE_KINDS).optional(),
        /** A JavaScript regular expression, searched for in the normalized SQL (normalizeSql). */
        pattern: sqlPattern.optional(),
      })
      .default({}),
    /** writer, readers, or a group name. */
    target: z.string().min(1, 'must not be empty').optional(),
    /** Refuse the statement with this message. */
    deny: z.string().min(1, 'must not be empty').optional(),
    /** Settings added to matching statements; later rules override earlier ones. */
    settings: settingsMap
      .refine((s) => Object.keys(s).length > 0, { message: 'must not be empty' })
      .optional(),
  })
  .superRefine((r, ctx) => {
    const actions = (['target', 'deny', 'settings'] as const).filter((k) => r[k] !== undefined);
    if (actions.length !== 1) {
      const got = actions.length === 0 ? 'none' : actions.join(' and ');
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `set exactly one of target, deny, settings (got ${got})` });
    }
  });

/** Read routing: retries, fallback, read-your-writes and rules. */
export const routingSchema = z.strictObject({
  /** A read whose backend fails before any byte reached the client is tried again on another reader, this often. */
  retries: z.number().int().min(0).max(100).default(1),
  /** When every reader is down, reads go to the writer (else Exception 279). */
  reads_fallback_to_writer: z.boolean().default(true),
  /** After a client's write, its reads go to the writer for this long (0: off). */
  read_after_write_ms: ms(0, 0),
  rules: z.array(ruleSchema).default([]),
});
