/**
 * Routing one HTTP query: the native port's classifier and planQuery (read-only users, routing rules, enforced
 * settings), plus what HTTP adds. Settings arrive as URL parameters too, so an enforced setting named there is refused
 * like one in a SETTINGS clause (452). A request with `session_id` goes to the writer of its group, always: ClickHouse
 * keeps an HTTP session (temporary tables, SETs) on the server that opened it, and a session may write, so the one
 * backend every request of a session can reach is the writer (no hashing over readers, which would break the session
 * whenever the reader set or a reader's health changes). Read-your-writes is per native connection and does not apply.
 */
import { ClientCode, type ClientQuery, type Setting } from '../protocol';
import { classifyCached, type Classification, type CompiledRule } from '../router';
import type { ProxyUser } from '../frontend/auth';
import { ProxyErrorCode, replyError, type ReplyError } from '../frontend/error-reply';
import { planQuery } from '../frontend/query-plan';
import type { Route } from '../frontend/targets';

export interface HttpPlan {
  cls: Classification;
  route: Route;
  group: string;
  /** Settings the operator enforces: sent as URL parameters, replacing the client's. */
  injected: Setting[];
  /** A routing rule chose the route (a cached copy would not be what the rule asks for). */
  forced: boolean;
}

export interface HttpPlanContext {
  /** The statement text to classify (its head is enough), or null when it cannot be read (compressed body). */
  sql: string | null;
  user: ProxyUser | null;
  userName: string;
  database: string;
  rules: CompiledRule[];
  params: URLSearchParams;
  sessionId: string;
  queryId: string;
}

/** What a statement the proxy cannot read is taken for: unknown, so it goes to the writer. */
const UNREADABLE: Classification = { kind: 'unknown', route: 'writer', statement: '', readOnlySafe: false };

/** Where an HTTP query goes and with which enforced settings, or why it is refused. */
export function planHttpQuery(ctx: HttpPlanContext): HttpPlan | { refuse: ReplyError } {
  const cls = ctx.sql === null ? UNREADABLE : classifyCached(ctx.sql);
  // planQuery reads the statement text only; the rest of a native Query has no HTTP counterpart.
  const q: ClientQuery = { code: ClientCode.Query, queryId: ctx.queryId, settings: [], stage: 2, compression: false, query: ctx.sql ?? '' };
  const plan = planQuery({ q, cls, user: ctx.user, userName: ctx.userName, database: ctx.database, rules: ctx.rules });
  if ('refuse' in plan) return plan;
  const overridden = plan.injected.find((s) => ctx.params.has(s.name));
  if (overridden) {
    return {
      refuse: replyError(ProxyErrorCode.SETTING_CONSTRAINT_VIOLATION,
        `setting ${overridden.name} is set by the proxy's configuration for this user or statement and cannot be changed`),
    };
  }
  let route: Route = plan.forced ?? (cls.kind === 'read' ? 'reader' : 'writer');
  if (ctx.sessionId !== '') route = 'writer';
  return { cls, route, group: plan.group, injected: plan.injected, forced: plan.forced != null };
}
