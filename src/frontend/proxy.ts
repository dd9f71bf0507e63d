import { PoolManager, type PoolOptions } from '../pool';
import { DEFAULT_LIMITS, type Limits } from '../protocol';
import type { ProxyUser } from './auth';
import type { SessionEvents } from './client-session';
import { listen, type Listener } from './listener';
import { TargetChooser, type Backends } from './targets';

export interface ProxyOptions {
  host: string;
  port: number;
  backends: Backends;
  users: ProxyUser[];
  poolMode: 'query' | 'session';
  pool: Omit<PoolOptions, 'maxSize'> & { maxSize: number | null };
  resultBuffering: 'stream' | 'buffer';
  bufferMaxBytes: number;
  maxPendingClientBytes: number;
  limits?: Limits;
  /** Verify compressed-frame checksums in the proxy (default false: the endpoints verify them). */
  verifyChecksums?: boolean;
  events?: Partial<SessionEvents>;
  log?: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

export interface Proxy {
  host: string;
  port: number;
  pools: PoolManager;
  listener: Listener;
  close(): Promise<void>;
}

const noop = () => undefined;

/** Starts the native-protocol proxy: the listener, its sessions and the backend pools. */
export async function startProxy(opts: ProxyOptions): Promise<Proxy> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const verifyChecksums = opts.verifyChecksums ?? false;
  const pools = new PoolManager({ ...opts.pool, limits, verifyChecksums });
  const events: SessionEvents = {
    query: opts.events?.query ?? noop,
    queryDone: opts.events?.queryDone ?? noop,
    pinned: opts.events?.pinned ?? noop,
    clientClosed: opts.events?.clientClosed ?? noop,
  };
  const listener = await listen(opts.host, opts.port, {
    config: {
      backends: opts.backends,
      users: opts.users,
      poolMode: opts.poolMode,
      resultBuffering: opts.resultBuffering,
      bufferMaxBytes: opts.bufferMaxBytes,
      maxPendingClientBytes: opts.maxPendingClientBytes,
      drainTimeoutMs: opts.pool.drainTimeoutMs,
      limits,
      verifyChecksums,
    },
    pools,
    chooser: new TargetChooser(opts.backends),
    events,
    log: opts.log ?? noop,
  });
  return {
    host: opts.host,
    port: listener.port,
    pools,
    listener,
    async close() {
      await listener.close();
      await pools.close();
    },
  };
}
