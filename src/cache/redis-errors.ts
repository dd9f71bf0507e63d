/**
 * Turns whatever ioredis rejects with into a StoreUnavailableError with a reason for the bypass metric. Messages are
 * built here from fixed text, the Redis error code (first word of a reply error) and Node's error code: never from
 * the connection options, so a URL or password cannot leak into a log line.
 */
import { StoreUnavailableError } from './errors';

/** ioredis' own messages (node_modules/ioredis/built: Redis.js, cluster/index.js, utils CONNECTION_CLOSED_ERROR_MSG). */
const NOT_CONNECTED = [
  "Stream isn't writeable", // standalone client, not connected, offline queue disabled
  "Cluster isn't ready", // cluster client, same
  'Connection is closed.',
  'None of startup nodes is available',
  'Failed to refresh slots cache.',
];

/** Reply codes meaning the server cannot serve right now rather than "your command is wrong". */
const DOWN_REPLIES = new Set(['LOADING', 'CLUSTERDOWN', 'TRYAGAIN', 'MASTERDOWN', 'BUSY', 'READONLY']);

/** Node socket error codes of a lost or refused connection. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Maps any failure of a store operation `op` (e.g. 'get') to a StoreUnavailableError. */
export function toStoreError(err: unknown, op: string): StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; message?: unknown; code?: unknown };
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const message = typeof e.message === 'string' ? e.message : '';
  if (name === 'ReplyError') {
    // "OOM command not allowed when used memory > 'maxmemory'."; from inside a script Redis 7 keeps the text
    if (message.includes('OOM command not allowed')) return new StoreUnavailableError('full', `${op}: Redis is out of memory (maxmemory)`);
    const code = /^[A-Z]+/.exec(message)?.[0] ?? 'ERR';
    if (DOWN_REPLIES.has(code)) return new StoreUnavailableError('down', `${op}: Redis replied ${code}`);
    return new StoreUnavailableError('error', `${op}: Redis replied ${code}`);
  }
  if (message === 'Command timed out') return new StoreUnavailableError('timeout', `${op}: Redis command timed out`);
  if (name === 'MaxRetriesPerRequestError') return new StoreUnavailableError('down', `${op}: connection to Redis lost`);
  if (name === 'ClusterAllFailedError' || NOT_CONNECTED.some((m) => message.startsWith(m))) {
    return new StoreUnavailableError('down', `${op}: not connected to Redis`);
  }
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return new StoreUnavailableError('down', `${op}: ${e.code}`);
  return new StoreUnavailableError('error', `${op}: ${name}`);
}
