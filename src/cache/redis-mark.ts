import type { StoreMark } from './store';

/** A StoreMark of a RedisStore. */
export interface RedisStoreMark extends StoreMark {
  readonly store: 'redis';
  /** Invalidation counter of each table when the mark was taken ('0' when the table had none). */
  readonly counters: ReadonlyMap<string, string>;
}

export function isRedisMark(m: StoreMark): m is RedisStoreMark {
  return m.store === 'redis' && (m as Partial<RedisStoreMark>).counters instanceof Map;
}
