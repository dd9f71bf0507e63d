/**
 * Loading: YAML file (with `${VAR}` from the environment), then flags over it, then one validation pass. Every problem
 * found is reported at once in one ConfigError.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors';
import { applyFlags, type FlagValues } from './flags';
import { interpolateEnv } from './interpolate';
import { takePlainPasswords, unsetPasswordEnvIssues } from './passwords';
import { redisUrlEnvIssues } from './redis-url';
import { configSchema, type GatehouseConfig } from './schema';
import { scalarKindAt } from './schema-kind';

/** Where the configuration comes from. */
export interface LoadConfigOptions {
  /** YAML file; defaults to flags.config. Without either, flags alone make the configuration. */
  file?: string;
  flags: FlagValues;
  /** For `${VAR}`; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Reads, interpolates, merges and validates the configuration; throws ConfigError listing every issue. */
export function loadConfig(opts: LoadConfigOptions): GatehouseConfig {
  const file = opts.file ?? opts.flags.config;
  const env = opts.env ?? process.env;
  const { value, issues }: RawConfig = file === undefined ? { value: {}, issues: [] } : readYaml(file, env);
  issues.push(...applyFlags(value, opts.flags));
  issues.push(...unsetPasswordEnvIssues(value, env));
  issues.push(...redisUrlEnvIssues(value, env));
  const result = configSchema.safeParse(value, { errorMap });
  if (!result.success) {
    // A value already reported (unset variable, malformed flag) would only repeat itself in the schema's words.
    const reported = issues.map((i) => i.path);
    const covered = (p: string): boolean => reported.some((r) => p === r || p.startsWith(`${r}.`));
    issues.push(...result.error.issues.flatMap(toConfigIssues).filter((i) => !covered(i.path)));
  }
  if (issues.length > 0 || !result.success) throw new ConfigError(issues);
  return result.data;
}

interface RawConfig {
  value: Record<string, unknown>;
  issues: ConfigIssue[];
}

function readYaml(file: string, env: NodeJS.ProcessEnv): RawConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError([{ path: file, message: `cannot read the file (${reason})` }]);
  }
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    // Only the first: later YAML errors mostly cascade from it, and the tree after it is a guess not worth validating.
    throw new ConfigError([{ path: `${file}:${lineCol(text, syntax.pos[0])}`, message: syntax.message }]);
  }
  const issues = interpolateEnv(doc, env, scalarKindAt);
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return { value: {}, issues };
  if (typeof value !== 'object' || Array.isArray(value)) {
    const got = Array.isArray(value) ? 'a list' : JSON.stringify(value);
    throw new ConfigError([{ path: file, message: `expected a mapping at the top level, got ${got}` }]);
  }
  const raw = value as Record<string, unknown>;
  issues.push(...takePlainPasswords(raw));
  return { value: raw, issues };
}

function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}

/**
 * Zod's issue → ours; an unknown-keys issue becomes one issue per key, at that key's path. A value that fits no
 * branch of a union (a reader as "HOST:PORT" or a mapping) is explained by the branch of its own type; only when it
 * has the type of none is it reported as such.
 */
function toConfigIssues(issue: z.ZodIssue): ConfigIssue[] {
  const path = issue.path.join('.');
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    return issue.keys.map((k) => ({ path: path === '' ? k : `${path}.${k}`, message: 'unknown key' }));
  }
  if (issue.code === z.ZodIssueCode.invalid_union) {
    // A literal branch ('auto' in `auto | N`) is a type of its own: a value other than it does not fit that branch.
    const atUnion = (i: z.ZodIssue): boolean => i.path.length === issue.path.length;
    const wrongType = (i: z.ZodIssue): i is z.ZodIssue & z.ZodInvalidTypeIssue => i.code === z.ZodIssueCode.invalid_type && atUnion(i);
    const wrongLiteral = (i: z.ZodIssue): i is z.ZodIssue & z.ZodInvalidLiteralIssue =>
      i.code === z.ZodIssueCode.invalid_literal && atUnion(i);
    const branches = issue.unionErrors.map((e) => e.issues);
    const fitting = branches.find((b) => !b.every((i) => wrongType(i) || wrongLiteral(i)));
    if (fitting) return fitting.flatMap(toConfigIssues);
    const mismatches = branches.flat().filter(wrongType);
    if (mismatches.length > 0) {
      const literals = branches.flat().filter(wrongLiteral).map((m) => JSON.stringify(m.expected));
      const expected = [...new Set([...literals, ...mismatches.map((m) => m.expected)])].join(' or ');
      return [{ path, message: `expected ${expected}, got ${mismatches[0]!.received}` }];
    }
  }
  return [{ path, message: issue.message }];
}

/** Short messages in our wording, used where a check gave none of its own. */
const errorMap: z.ZodErrorMap = (issue, ctx) => {
  switch (issue.code) {
    case z.ZodIssueCode.invalid_type:
      return { message: issue.received === 'undefined' ? 'required' : `expected ${issue.expected}, got ${issue.received}` };
    case z.ZodIssueCode.invalid_enum_value:
      return { message: `expected one of ${issue.options.join(' | ')}, got ${JSON.stringify(issue.received)}` };
    case z.ZodIssueCode.too_small:
      if (issue.type === 'number') return { message: `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}` };
      if (issue.type === 'string' && issue.minimum === 1) return { message: 'must not be empty' };
      break;
    case z.ZodIssueCode.too_big:
      if (issue.type === 'number') return { message: `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}` };
      break;
    default:
      break;
  }
  return { message: ctx.defaultError };
};
