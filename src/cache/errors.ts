/**
 * Errors of the cache. None is fatal to a query: a store that cannot decode an entry treats it as a miss (and deletes
 * it), so these never reach a client. They are not ProxyError subclasses because they never become Exception packets
 * (ProxyError lives in src/pool; importing it would make the cache depend on the pool for nothing).
 */

/** Why an encoded entry was rejected. */
export type CacheEntryErrorReason = 'bad_magic' | 'version' | 'truncated' | 'malformed' | 'limit';

/** Base of the cache's errors; `code` is stable ('ERR_CACHE_…'). */
export class CacheError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CacheError';
  }
}

/** An encoded entry is not one this build can read: other version, wrong magic, truncated or inconsistent. */
export class CacheEntryError extends CacheError {
  constructor(
    readonly reason: CacheEntryErrorReason,
    message: string,
  ) {
    super('ERR_CACHE_ENTRY', `cache entry rejected (${reason}): ${message}`);
    this.name = 'CacheEntryError';
  }
}

/** A store call failed or took too long; the query bypasses the cache (never an error for the client). */
export class StoreUnavailableError extends CacheError {
  constructor(
    readonly reason: 'down' | 'timeout' | 'full' | 'error',
    message: string,
  ) {
    super('ERR_CACHE_STORE', `cache store unavailable (${reason}): ${message}`);
    this.name = 'StoreUnavailableError';
  }
}
