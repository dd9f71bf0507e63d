/**
 * The in-memory MemoryStore behind the CacheStore interface, so the proxy treats both stores alike. Nothing here can
 * fail or wait; there is no other instance to lock against (in-process single-flight already coalesced the misses).
 */
import type { Entry } from './entry';
import { MemoryStore, type MemoryStoreOptions, type StoreStats } from './memory-store';
import type { CacheStore, StoreLock, StoreMark } from './store';

interface MemoryMark extends StoreMark {
  readonly store: 'memory';
  readonly seq: number;
}

const NO_LOCK: StoreLock = { token: 'local', release: () => Promise.resolve() };

export class MemoryCacheStore implements CacheStore {
  readonly kind = 'memory' as const;
  private readonly store: MemoryStore;

  constructor(options: MemoryStoreOptions) {
    this.store = new MemoryStore(options);
  }

  get(key: string): Promise<Entry | null> {
    return Promise.resolve(this.store.get(key));
  }

  mark(): Promise<StoreMark> {
    const mark: MemoryMark = { store: 'memory', seq: this.store.invalidationMark() };
    return Promise.resolve(mark);
  }

  set(key: string, entry: Entry, mark: StoreMark): Promise<boolean> {
    return Promise.resolve(this.store.set(key, entry, (mark as MemoryMark).seq));
  }

  invalidate(tables: readonly string[]): Promise<number> {
    let n = 0;
    for (const t of tables) n += this.store.invalidateTable(t);
    return Promise.resolve(n);
  }

  lock(): Promise<StoreLock | null> {
    return Promise.resolve(NO_LOCK);
  }

  waitForEntry(): Promise<Entry | null> {
    return Promise.resolve(null);
  }

  stats(): StoreStats {
    return this.store.stats();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
