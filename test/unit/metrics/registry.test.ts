import { register as globalRegistry } from 'prom-client';
import { Metrics, renderMetrics } from '../../../src/metrics';

/** Lines of the exposition that are samples (not # HELP / # TYPE) of one metric. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('Metrics', () => {
  it('declares exactly these metrics (a rename must change this list on purpose)', async () => {
    const m = new Metrics();
    const declared = (await m.registry.getMetricsAsJSON()).map((x) => `${x.name} ${x.type}`);
    expect(declared.sort()).toEqual([
      'gatehouse_backend_banned gauge',
      'gatehouse_backend_bans_total counter',
      'gatehouse_bytes_total counter',
      'gatehouse_cache_bypass_total counter',
      'gatehouse_cache_bytes gauge',
      'gatehouse_cache_entries gauge',
      'gatehouse_cache_evictions_total counter',
      'gatehouse_cache_hits_total counter',
      'gatehouse_cache_invalidations_total counter',
      'gatehouse_cache_misses_total counter',
      'gatehouse_cache_refreshes_total counter',
      'gatehouse_cache_singleflight_waits_total counter',
      'gatehouse_cache_stale_served_total counter',
      'gatehouse_cache_store_up gauge',
      'gatehouse_cache_stores_total counter',
      'gatehouse_client_connections gauge',
      'gatehouse_client_connections_total counter',
      'gatehouse_pinned_sessions gauge',
      'gatehouse_pool_connections gauge',
      'gatehouse_pool_connects_total counter',
      'gatehouse_pool_discards_total counter',
      'gatehouse_pool_wait_timeouts_total counter',
      'gatehouse_pool_waiting gauge',
      'gatehouse_queries_total counter',
      'gatehouse_query_duration_seconds histogram',
      'gatehouse_query_errors_total counter',
    ]);
  });

  it('uses its own registry: two instances are independent and the global registry stays empty', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.clientConnectionsTotal.inc();
    a.clientConnections.inc();
    expect(samples(await a.render(), 'gatehouse_client_connections_total')).toEqual(['gatehouse_client_connections_total 1']);
    expect(samples(await b.render(), 'gatehouse_client_connections_total')).toEqual(['gatehouse_client_connections_total 0']);
    expect(globalRegistry.getMetricsAsArray()).toHaveLength(0);
  });

  it('records with typed labels', async () => {
    const m = new Metrics();
    m.countQuery('reader', 'read');
    m.countQuery('reader', 'read');
    m.countQuery('writer', 'write');
    m.observeQueryDuration('reader', 0.003);
    m.countQueryError('backend', 60);
    m.countBytes('to_client', 1000);
    m.countBytes('to_client', 24);
    m.countConnect('ch:9000', 'error');
    const text = await renderMetrics(m);
    expect(samples(text, 'gatehouse_queries_total')).toEqual([
      'gatehouse_queries_total{route="reader",kind="read"} 2',
      'gatehouse_queries_total{route="writer",kind="write"} 1',
    ]);
    expect(samples(text, 'gatehouse_query_errors_total')).toEqual(['gatehouse_query_errors_total{origin="backend",code="60"} 1']);
    expect(samples(text, 'gatehouse_bytes_total')).toEqual(['gatehouse_bytes_total{direction="to_client"} 1024']);
    expect(samples(text, 'gatehouse_pool_connects_total')).toEqual(['gatehouse_pool_connects_total{backend="ch:9000",result="error"} 1']);
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="0.005",route="reader"} 1');
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="0.0025",route="reader"} 0');
    expect(text).toContain('gatehouse_query_duration_seconds_count{route="reader"} 1');
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('reads pool gauges from registered sources at scrape time, summing pools with the same labels', async () => {
    const m = new Metrics();
    let busy = 2;
    const unregisterA = m.addPoolSource(() => [
      { backend: 'r1:9000', user: 'ro', idle: 1, busy, waiting: 0 },
      { backend: 'w:9000', user: 'rw', idle: 0, busy: 1, waiting: 3 },
    ]);
    m.addPoolSource(() => [{ backend: 'r1:9000', user: 'ro', idle: 4, busy: 0, waiting: 1 }]); // e.g. another database
    expect(samples(await m.render(), 'gatehouse_pool_connections')).toEqual([
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="idle"} 5',
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="busy"} 2',
      'gatehouse_pool_connections{backend="w:9000",user="rw",state="idle"} 0',
      'gatehouse_pool_connections{backend="w:9000",user="rw",state="busy"} 1',
    ]);
    busy = 7;
    unregisterA();
    const text = await m.render();
    // Values are re-read, and a pool that went away leaves no stale series.
    expect(samples(text, 'gatehouse_pool_connections')).toEqual([
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="idle"} 4',
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="busy"} 0',
    ]);
    expect(samples(text, 'gatehouse_pool_waiting')).toEqual(['gatehouse_pool_waiting{backend="r1:9000",user="ro"} 1']);
  });

  it('keeps directly set pool gauges when no source is registered', async () => {
    const m = new Metrics();
    m.poolWaiting.set({ backend: 'w:9000', user: 'rw' }, 2);
    expect(samples(await m.render(), 'gatehouse_pool_waiting')).toEqual(['gatehouse_pool_waiting{backend="w:9000",user="rw"} 2']);
  });

  describe('cache', () => {
    it('counts hits, misses, stores, bypasses by reason, invalidated entries, waits by scope, stale hits, refreshes', async () => {
      const m = new Metrics();
      m.cacheHitsTotal.inc();
      m.cacheHitsTotal.inc();
      m.cacheMissesTotal.inc();
      m.cacheStoresTotal.inc();
      m.countCacheBypass('nondeterministic');
      m.countCacheBypass('store_timeout');
      m.countCacheBypass('store_timeout');
      m.cacheInvalidationsTotal.inc(7);
      m.countSingleflightWait('process');
      m.countSingleflightWait('cluster');
      m.countSingleflightWait('cluster');
      m.cacheStaleServedTotal.inc();
      m.cacheRefreshesTotal.inc();
      const text = await m.render();
      expect(samples(text, 'gatehouse_cache_hits_total')).toEqual(['gatehouse_cache_hits_total 2']);
      expect(samples(text, 'gatehouse_cache_misses_total')).toEqual(['gatehouse_cache_misses_total 1']);
      expect(samples(text, 'gatehouse_cache_stores_total')).toEqual(['gatehouse_cache_stores_total 1']);
      expect(samples(text, 'gatehouse_cache_bypass_total')).toEqual([
        'gatehouse_cache_bypass_total{reason="nondeterministic"} 1',
        'gatehouse_cache_bypass_total{reason="store_timeout"} 2',
      ]);
      expect(samples(text, 'gatehouse_cache_invalidations_total')).toEqual(['gatehouse_cache_invalidations_total 7']);
      expect(samples(text, 'gatehouse_cache_singleflight_waits_total')).toEqual([
        'gatehouse_cache_singleflight_waits_total{scope="process"} 1',
        'gatehouse_cache_singleflight_waits_total{scope="cluster"} 2',
      ]);
      expect(samples(text, 'gatehouse_cache_stale_served_total')).toEqual(['gatehouse_cache_stale_served_total 1']);
      expect(samples(text, 'gatehouse_cache_refreshes_total')).toEqual(['gatehouse_cache_refreshes_total 1']);
    });

    it('reports the store as up or down only once told; absent before (the cache may be off)', async () => {
      const m = new Metrics();
      const text = await m.render();
      expect(text).toContain('# TYPE gatehouse_cache_store_up gauge');
      expect(samples(text, 'gatehouse_cache_store_up')).toEqual([]);
      m.setCacheStoreUp(true);
      expect(samples(await m.render(), 'gatehouse_cache_store_up')).toEqual(['gatehouse_cache_store_up 1']);
      m.setCacheStoreUp(false);
      expect(samples(await m.render(), 'gatehouse_cache_store_up')).toEqual(['gatehouse_cache_store_up 0']);
    });

    it('reads entries, bytes and evictions from cache sources at scrape time', async () => {
      const m = new Metrics();
      let stats = { entries: 3, bytes: 4096, evictions: 1 };
      const unregister = m.addCacheSource(() => stats);
      let text = await m.render();
      expect(samples(text, 'gatehouse_cache_entries')).toEqual(['gatehouse_cache_entries 3']);
      expect(samples(text, 'gatehouse_cache_bytes')).toEqual(['gatehouse_cache_bytes 4096']);
      expect(samples(text, 'gatehouse_cache_evictions_total')).toEqual(['gatehouse_cache_evictions_total 1']);
      stats = { entries: 2, bytes: 1000, evictions: 5 };
      text = await m.render();
      expect(samples(text, 'gatehouse_cache_entries')).toEqual(['gatehouse_cache_entries 2']);
      expect(samples(text, 'gatehouse_cache_bytes')).toEqual(['gatehouse_cache_bytes 1000']);
      expect(samples(text, 'gatehouse_cache_evictions_total')).toEqual(['gatehouse_cache_evictions_total 5']);
      // A second source (another store) is added in.
      m.addCacheSource(() => ({ entries: 1, bytes: 10, evictions: 2 }));
      text = await m.render();
      expect(samples(text, 'gatehouse_cache_entries')).toEqual(['gatehouse_cache_entries 3']);
      expect(samples(text, 'gatehouse_cache_evictions_total')).toEqual(['gatehouse_cache_evictions_total 7']);
      unregister();
      expect(samples(await m.render(), 'gatehouse_cache_bytes')).toEqual(['gatehouse_cache_bytes 10']);
    });

    it('leaves entries and bytes out when a store cannot tell (-1), and when no store is registered', async () => {
      const m = new Metrics();
      let text = await m.render();
      expect(samples(text, 'gatehouse_cache_entries')).toEqual([]);
      expect(samples(text, 'gatehouse_cache_bytes')).toEqual([]);
      expect(samples(text, 'gatehouse_cache_evictions_total')).toEqual(['gatehouse_cache_evictions_total 0']);
      m.addCacheSource(() => ({ entries: -1, bytes: -1, evictions: 4 })); // e.g. Redis
      m.addCacheSource(() => ({ entries: 5, bytes: 50, evictions: 0 }));
      text = await m.render();
      expect(samples(text, 'gatehouse_cache_entries')).toEqual([]);
      expect(samples(text, 'gatehouse_cache_bytes')).toEqual([]);
      expect(text).toContain('# HELP gatehouse_cache_entries Entries in the cache store; absent when the store cannot tell');
      expect(samples(text, 'gatehouse_cache_evictions_total')).toEqual(['gatehouse_cache_evictions_total 4']);
    });
  });
});
