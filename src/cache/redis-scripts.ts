/**
 * The store's Lua scripts. Each touches ONE key (KEYS[1]), so each runs on the node owning that key in Redis Cluster,
 * and each is atomic where two commands in a row would not be. ioredis' defineCommand sends EVALSHA and falls back to
 * EVAL when the server does not know the script yet (after a restart, on a new cluster node).
 */
import type { Cluster, Redis } from 'ioredis';

/**
 * Adds a member to a table's index set and makes the set live at least `ttlMs` more, never less: the set must outlive
 * every entry it lists, and another entry may already have given it a longer life. (PEXPIRE … GT alone would not do:
 * a new set has no TTL, which GT treats as infinite, so the set would never expire.)
 */
const INDEX_ADD = `
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;

/**
 * Moves a table's invalidation "counter" to a new random token (ARGV[2]) with its expiry, in one step. A random token
 * rather than INCR: after a Redis restart without persistence (or an evicted counter) INCR would count again from 0
 * and could come back to a value some mark read, letting a stale entry be stored; a fresh token never does.
 */
const COUNTER_BUMP = `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return 1`;

/**
 * Deletes a lock only if it still holds this holder's token (a lock that expired and was taken by someone else is
 * left alone), then tells waiters on the key's channel. PUBLISH takes a channel, not a key: allowed in Cluster too.
 */
const LOCK_RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0`;

/** The scripts as typed methods of a client on which installScripts() ran. */
export interface StoreScripts {
  ghIndexAdd(indexKey: string, member: string, ttlMs: number): Promise<number>;
  ghCounterBump(counterKey: string, ttlMs: number, token: string): Promise<number>;
  ghLockRelease(lockKey: string, token: string, channel: string): Promise<number>;
}

/** Defines the scripts on `client` and returns it typed with them. */
export function installScripts(client: Redis | Cluster): StoreScripts {
  client.defineCommand('ghIndexAdd', { numberOfKeys: 1, lua: INDEX_ADD });
  client.defineCommand('ghCounterBump', { numberOfKeys: 1, lua: COUNTER_BUMP });
  client.defineCommand('ghLockRelease', { numberOfKeys: 1, lua: LOCK_RELEASE });
  return client as unknown as StoreScripts;
}
