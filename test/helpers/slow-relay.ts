import { startRelay, type Relay } from './relay';

export type SlowRelay = Relay;

/** A relay that delays every chunk by `delayMs` in both directions, in order (see startRelay). */
export function startSlowRelay(targetPort: number, delayMs: number, targetHost = '127.0.0.1'): Promise<SlowRelay> {
  return startRelay(targetPort, { delayMs, targetHost });
}
