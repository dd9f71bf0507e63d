export { startProxy, type Proxy, type ProxyOptions } from './proxy';
export { authenticate, type ProxyUser } from './auth';
export type { Backends, BackendGroup, Route } from './targets';
export type { SessionEvents } from './session-types';
export { exceptionPacket, ProxyErrorCode } from './error-reply';
export { NetworkList } from './networks';
export { UserLimiters, type UserLimitOptions } from './user-limits';
export { ResultCache, type CacheEvents, type ResultCacheOptions } from './result-cache';
export type { SessionCacheConfig } from './session-cache';
