/** Public surface of the cache: keys, entry format, in-memory store, recorder, single-flight. Other folders import only this file. */
export { cacheKey, isResultNeutralSetting, RESULT_NEUTRAL_SETTINGS, type CacheKeyParts, type KeyPair } from './cache-key';
export {
  ENTRY_FORMAT_VERSION,
  ENTRY_LIMITS,
  decodeEntry,
  encodeEntry,
  encodedEntryBytes,
  entryPackets,
  isExpired,
  makeEntry,
  type Entry,
} from './entry';
export { CacheError, CacheEntryError, type CacheEntryErrorReason } from './errors';
export { MemoryStore, type MemoryStoreOptions, type StoreStats } from './memory-store';
export { Recorder, type RecordedResult } from './recorder';
export { replayEntry } from './replay';
export { SingleFlight } from './single-flight';
export { compileCacheRules, type CacheRuleDecision, type CacheRuleMatcher, type CacheRuleQuery } from './cache-rules';
export { StoreUnavailableError } from './errors';
export { MemoryCacheStore } from './memory-cache-store';
export { FEED_READER_MARK_MS, MIN_FEED_READ_MARK_MS, type CacheStore, type FeedItem, type FeedRead, type StoreFailure, type StoreFeed, type StoreLock, type StoreMark } from './store';
export { RedisStore, type RedisStoreOptions } from './redis-store';
export type { RedisStoreMark } from './redis-mark';
export { HTTP_KEPT_HEADERS, bodyEndsWithException, httpCacheKey, makeHttpEntry, readHttpEntry, type HttpCached, type HttpKeyInput } from './http-entry';
