/**
 * The HTTP frontend as `gatehouse serve` starts it from the `http:` section (issue 7); part of the composition root.
 */
import type { Logger } from 'pino';
import type { GatehouseConfig } from './config';
import type { Proxy } from './frontend';
import type { Metrics } from './metrics';

/** A started HTTP frontend. */
export interface HttpFrontend {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; requests in flight finish (bounded by `timeoutMs`), then connections close. */
  close(timeoutMs?: number): Promise<void>;
}

/** Starts the HTTP listener when `http` is configured; null otherwise. To be built (issue 7). */
export async function startHttpFrontend(cfg: GatehouseConfig, proxy: Proxy, deps: { metrics: Metrics; log: Logger }): Promise<HttpFrontend | null> {
  void proxy;
  void deps;
  if (!cfg.http) return null;
  throw new Error('http: the HTTP frontend is not built yet');
}
