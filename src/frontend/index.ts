export { startProxy, type Proxy, type ProxyOptions } from './proxy';
export { authenticate, type ProxyUser } from './auth';
export type { Backends, Route } from './targets';
export type { SessionEvents } from './client-session';
export { exceptionPacket, ProxyErrorCode } from './error-reply';
