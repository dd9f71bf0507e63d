/**
 * `${VAR}` in YAML values, replaced from the environment. Done on the parsed document rather than the text, so a
 * secret containing `#`, `:` or quotes cannot change the YAML structure, and commented-out lines are ignored.
 * Unlike chproxy, an unset variable is an error (never left as the literal `${VAR}`); `$${` writes a literal `${`.
 * Inside a flow collection (`{ }`, `[ ]`) `{` is YAML syntax, so a placeholder there must be quoted.
 */
import { isAlias, isMap, isScalar, isSeq, type Document } from 'yaml';
import type { ConfigIssue } from './errors';
import type { ScalarKind } from './schema-kind';

// `$${` (escape), `${NAME}` (placeholder), or any other `${` (malformed).
const PLACEHOLDER = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{/g;
const DECIMAL = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;

/** The scalar kind the schema expects at a path: a substituted value becomes a number or boolean only there. */
export type KindAt = (path: readonly (string | number)[]) => ScalarKind;

/** Replaces placeholders in every value of `doc` in place; returns one issue per unset variable or bad placeholder. */
export function interpolateEnv(doc: Document, env: NodeJS.ProcessEnv, kindAt: KindAt): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  walk(doc.contents, [], { env, kindAt, issues });
  return issues;
}

interface Ctx {
  readonly env: NodeJS.ProcessEnv;
  readonly kindAt: KindAt;
  readonly issues: ConfigIssue[];
}

function walk(node: unknown, path: (string | number)[], ctx: Ctx): void {
  if (isAlias(node)) return; // its anchor was (or will be) visited where it is defined
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      walk(pair.value, [...path, key], ctx);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => walk(item, [...path, i], ctx));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const text = substitute(node.value, path.join('.'), ctx);
    node.value = typed(text, ctx.kindAt(path));
  }
}

function substitute(text: string, path: string, ctx: Ctx): string {
  return text.replace(PLACEHOLDER, (match: string, name: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) {
      ctx.issues.push({ path, message: 'malformed placeholder: write ${NAME} (letters, digits, _) or $${ for a literal' });
      return match;
    }
    const value = ctx.env[name];
    if (value === undefined) {
      ctx.issues.push({ path, message: `environment variable ${name} is not set` });
      return match;
    }
    return value;
  });
}

/**
 * Environment values are text; where the schema wants a number or boolean, `min_idle: ${N}` means the number
 * (quoted or not). Anywhere else the text stays text, so a password of "123" or "true" is never converted.
 */
function typed(text: string, kind: ScalarKind): unknown {
  if (kind === 'number' && DECIMAL.test(text)) return Number(text);
  if (kind === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}
