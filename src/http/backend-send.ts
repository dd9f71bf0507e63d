/**
 * Sending one request to a backend of its route: the balancer's pick, the exchange, health reports, and for a read
 * whose body can be sent again, another reader when a backend cannot be reached (routing.retries), as on the native
 * port. Used by a request's own relay (handler.ts) and by a flight shared by several requests (cache-flight.ts).
 */
import type { Dispatcher } from 'undici';
import { ProxyErrorCode, replyError } from '../frontend/error-reply';
import type { Route } from '../frontend/targets';
import type { BackendTarget } from '../pool';
import { BackendTlsError } from './backend-pools';
import { Exchange, type CutAt, type ExchangeOptions, type ExchangeTarget } from './exchange';
import type { HandlerContext } from './handler';

/**
 * Called when an abort cut a backend request in flight: the pool, backend and route it went to, and whether the
 * backend had answered yet (`at`).
 */
export type OnCut = (pool: Dispatcher, target: BackendTarget, route: Route, clientGone: boolean, at: CutAt) => void;

/**
 * What cuts the exchange in progress (the client went away, the query timed out): a request's RequestAbort, or a
 * flight (whose last client leaving cuts it).
 */
export interface AbortLink {
  readonly aborted: boolean;
  /** The exchange in progress (a retry replaces the previous one), and what to do when an abort cuts it in flight. */
  attach(exchange: Exchange, onCut: Cut | null): void;
}

/** What an AbortLink calls when it cut its exchange in flight. */
export type Cut = (clientGone: boolean, at: CutAt) => void;

export interface Sent {
  exchange: Exchange;
  /** The balancer's outstanding count for the backend goes down. */
  done(): void;
}

/**
 * Sends the request to a backend of the route; resolves once the backend answered (its headers are on their way to
 * `target`). A backend that cannot be reached is reported to health checks; a read whose body can be sent again
 * then tries another reader (routing.retries), as on the native port.
 */
export async function send(
  ctx: HandlerContext,
  route: Route,
  group: string,
  replayable: boolean,
  abort: AbortLink,
  onCut: OnCut | null,
  options: ExchangeOptions,
  target: ExchangeTarget,
  build: (target: BackendTarget, route: Route) => Dispatcher.DispatchOptions,
): Promise<Sent> {
  const { router, health } = ctx.deps;
  const tried = new Set<string>();
  let retriesLeft = route === 'reader' && replayable ? ctx.deps.config.routing.retries : 0;
  for (;;) {
    const pick = router.pick(route, group, route === 'reader' ? tried : undefined);
    if ('chCode' in pick) throw pick;
    tried.add(pick.target.name);
    router.acquire(group, pick.target);
    const exchange = new Exchange(target, options);
    try {
      const pool = ctx.pools.pool(pick.target);
      abort.attach(exchange, onCut && ((clientGone, at) => onCut(pool, pick.target, pick.route, clientGone, at)));
      pool.dispatch(build(pick.target, pick.route), exchange);
      await exchange.answered;
      health?.reportSuccess(pick.target);
      return { exchange, done: () => router.release(group, pick.target) };
    } catch (e) {
      router.release(group, pick.target);
      if (abort.aborted) throw e;
      // The cause's code only (undici's messages may carry the URL), or the TLS handshake's reason.
      const why = e instanceof BackendTlsError ? e.message : ((e as { code?: string }).code ?? (e instanceof Error ? e.name : 'error'));
      health?.reportFailure(pick.target, `HTTP request failed: ${why}`);
      if (retriesLeft-- > 0) continue;
      throw replyError(ProxyErrorCode.NETWORK_ERROR, `backend ${pick.target.name} (${ctx.pools.secure ? 'HTTPS' : 'HTTP'}) failed: ${why}`);
    }
  }
}
