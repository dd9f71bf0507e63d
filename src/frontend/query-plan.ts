import type { ClientQuery, Setting } from '../protocol';
import { evaluateRules, settingsClauseNames, type Classification, type CompiledRule } from '../router';
import type { ProxyUser } from './auth';
import { ProxyErrorCode, replyError, type ReplyError } from './error-reply';
import { readOnlyAllowed } from './session-types';
import { DEFAULT_GROUP, type Route } from './targets';

/** Where a query may go before any backend is chosen, or why it is refused. */
export type QueryPlan =
  | { refuse: ReplyError }
  | {
      /** The backend group (routing rules may name one). */
      group: string;
      /** A route a rule imposes (`target: writer` / `readers`), else null: the statement's kind decides. */
      forced: Route | null;
      /** Settings the operator enforces for this query (user settings, then rules'): they win. */
      injected: Setting[];
    };

export interface PlanContext {
  q: ClientQuery;
  cls: Classification;
  /** The proxy user, or null in pass-through mode. */
  user: ProxyUser | null;
  /** The name rules match on: the proxy user's, or the passed-through client user's. */
  userName: string;
  database: string;
  rules: CompiledRule[];
}

/**
 * The checks and decisions that need no backend (issue 4): a read-only user runs reads, USE and
 * SET only; routing rules deny, choose a target or inject settings; a query (SETTINGS clause) or
 * SET may not change an enforced setting, as ClickHouse's own setting constraints refuse (452).
 */
export function planQuery(ctx: PlanContext): QueryPlan {
  const { q, cls, user } = ctx;
  if (user?.readonly && !readOnlyAllowed(cls)) {
    return { refuse: replyError(ProxyErrorCode.READONLY, `user ${user.name} is read-only: cannot execute ${cls.statement || 'this statement'}`) };
  }
  let group = DEFAULT_GROUP;
  let forced: Route | null = null;
  const injected: Setting[] = (user?.settings ?? []).map((s) => ({ name: s.name, value: s.value, flags: 0 }));
  if (ctx.rules.length > 0) {
    const d = evaluateRules(ctx.rules, { user: ctx.userName, database: ctx.database, kind: cls.kind, sql: q.query });
    if (d.deny !== undefined) return { refuse: replyError(ProxyErrorCode.ACCESS_DENIED, `denied by a routing rule: ${d.deny}`) };
    if (d.target === 'writer') forced = 'writer';
    else if (d.target === 'readers') forced = 'reader';
    else if (d.target) group = d.target;
    for (const s of d.settings) injected.push({ name: s.name, value: s.value, flags: 0 });
  }
  if (injected.length > 0) {
    const enforced = new Set(injected.map((s) => s.name));
    const changed = [...settingsClauseNames(q.query), ...(cls.session?.type === 'set' ? cls.session.settings.map((s) => s.name) : [])];
    const overridden = changed.find((n) => enforced.has(n));
    if (overridden !== undefined) {
      return {
        refuse: replyError(ProxyErrorCode.SETTING_CONSTRAINT_VIOLATION,
          `setting ${overridden} is set by the proxy's configuration for this user or statement and cannot be changed`),
      };
    }
  }
  return { group, forced, injected };
}
