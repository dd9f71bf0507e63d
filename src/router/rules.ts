/**
 * Routing rules (config `routing.rules`): evaluated in order for each statement. A rule matches on the proxy user,
 * the database, the statement kind and a regular expression searched for in the normalized SQL (normalizeSql). The
 * first matching rule with a target or a deny message decides; matching settings-only rules before it add settings.
 */
import type { StatementKind } from './classify';
import { normalizeSql } from './normalize';

/** A rule as configured (the config's RoutingRule has this shape). */
export interface RuleSpec {
  readonly match?: {
    readonly user?: string;
    readonly database?: string;
    readonly kind?: StatementKind;
    /** JavaScript regular expression source, searched for (not anchored) in the normalized SQL. */
    readonly pattern?: string;
  };
  /** 'writer', 'readers' or a backend group name. */
  readonly target?: string;
  readonly deny?: string;
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
}

/** A setting to inject, as text. */
export interface RuleSetting {
  readonly name: string;
  readonly value: string;
}

/** A rule ready to evaluate: its pattern compiled once, its settings as text. */
export interface CompiledRule {
  /** Position in the configured list (for logs and metrics). */
  readonly index: number;
  readonly user?: string;
  readonly database?: string;
  readonly kind?: StatementKind;
  readonly pattern?: RegExp;
  readonly target?: string;
  readonly deny?: string;
  readonly settings: readonly RuleSetting[];
}

/** What a statement is matched on. */
export interface RuleContext {
  /** Proxy user (or the client's user when users pass through). */
  user: string;
  /** The database the statement runs in. */
  database: string;
  kind: StatementKind;
  sql: string;
  /** normalizeSql(sql), when the caller has it already; computed only if a rule has a pattern. */
  normalized?: string;
}

/** The outcome: at most one of target and deny; settings in the order first set (a later rule's value wins). */
export interface RuleDecision {
  target?: string;
  deny?: string;
  settings: RuleSetting[];
  /** Index of the rule that gave the target or deny. */
  rule?: number;
}

/**
 * Compiles rules once (at start-up or reload). Throws SyntaxError on an invalid pattern; the config schema has
 * rejected those already, with the rule's path.
 */
export function compileRules(rules: readonly RuleSpec[]): CompiledRule[] {
  return rules.map((r, index) => {
    const m = r.match ?? {};
    return {
      index,
      ...(m.user !== undefined ? { user: m.user } : {}),
      ...(m.database !== undefined ? { database: m.database } : {}),
      ...(m.kind !== undefined ? { kind: m.kind } : {}),
      ...(m.pattern !== undefined ? { pattern: new RegExp(m.pattern) } : {}),
      ...(r.target !== undefined ? { target: r.target } : {}),
      ...(r.deny !== undefined ? { deny: r.deny } : {}),
      settings: Object.entries(r.settings ?? {}).map(([name, v]) => ({ name, value: settingText(v) })),
    };
  });
}

/** Evaluates compiled rules in order for one statement. Without a deciding rule, `target` and `deny` are absent. */
export function evaluateRules(compiled: readonly CompiledRule[], ctx: RuleContext): RuleDecision {
  let normalized = ctx.normalized;
  let settings: Map<string, string> | null = null;
  for (const r of compiled) {
    if (r.user !== undefined && r.user !== ctx.user) continue;
    if (r.database !== undefined && r.database !== ctx.database) continue;
    if (r.kind !== undefined && r.kind !== ctx.kind) continue;
    if (r.pattern !== undefined) {
      normalized ??= normalizeSql(ctx.sql);
      if (!r.pattern.test(normalized)) continue;
    }
    if (r.target !== undefined || r.deny !== undefined) {
      return {
        ...(r.target !== undefined ? { target: r.target } : {}),
        ...(r.deny !== undefined ? { deny: r.deny } : {}),
        settings: settingList(settings),
        rule: r.index,
      };
    }
    for (const s of r.settings) (settings ??= new Map()).set(s.name, s.value);
  }
  return { settings: settingList(settings) };
}

function settingList(m: Map<string, string> | null): RuleSetting[] {
  return m === null ? [] : [...m].map(([name, value]) => ({ name, value }));
}

/** Same as the config's settingValueText: booleans as 1/0, which every server version reads as a bool setting. */
function settingText(v: string | number | boolean): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  return String(v);
}
