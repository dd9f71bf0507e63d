/** Public surface of the cache: keys, entry format, in-memory store, recorder, single-flight. Other folders import only this file. */
export { cacheKey, isResultNeutralSetting, RESULT_NEUTRAL_SETTINGS, type CacheKeyParts, type KeyPair } from './cache-key';
export {
  ENTRY_FORMAT_VERSION,
  ENTRY_LIMITS,
  decodeEntry,
  encodeEntry,
  encodedEntryBytes,
  isExpired,
  makeEntry,
  type Entry,
} from './entry';
export { CacheError, CacheEntryError, type CacheEntryErrorReason } from './errors';
export { MemoryStore, type MemoryStoreOptions, type StoreStats } from './memory-store';
export { Recorder } from './recorder';
export { SingleFlight } from './single-flight';
