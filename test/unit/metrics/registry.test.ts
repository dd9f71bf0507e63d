import { AggregatorRegistry, register as globalRegistry } from 'prom-client';
import { Metrics, renderMetrics } from '../../../src/metrics';

/** Lines of the exposition that are samples (not # HELP / # TYPE) of one metric. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('Metrics', () => {
  it('declares exactly these metrics (a rename must change this list on purpose)', async () => {
    const m = new Metrics({ processMetrics: false });
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
      'gatehouse_cache_runs_kept_total counter',
      'gatehouse_cache_singleflight_waits_total counter',
      'gatehouse_cache_stale_served_total counter',
      'gatehouse_cache_store_up gauge',
      'gatehouse_cache_stores_total counter',
      'gatehouse_client_connections gauge',
      'gatehouse_client_connections_total counter',
      'gatehouse_pinned_sessions gauge',
      'gatehouse_pool_checkout_wait_seconds histogram',
      'gatehouse_pool_connections gauge',
      'gatehouse_pool_connects_total counter',
      'gatehouse_pool_discards_total counter',
      'gatehouse_pool_max_connections gauge',
      'gatehouse_pool_wait_timeouts_total counter',
      'gatehouse_pool_waiting gauge',
      'gatehouse_queries_total counter',
      'gatehouse_query_duration_seconds histogram',
      'gatehouse_query_errors_total counter',
    ]);
  });

  it('adds Node.js process metrics under the same prefix, without the gauges promtool rejects', async () => {
    const names = (await new Metrics().registry.getMetricsAsJSON()).map((x) => x.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'gatehouse_process_cpu_seconds_total',
        'gatehouse_process_resident_memory_bytes',
        'gatehouse_process_start_time_seconds',
        'gatehouse_nodejs_heap_size_used_bytes',
        'gatehouse_nodejs_eventloop_lag_p99_seconds',
        'gatehouse_nodejs_gc_duration_seconds',
        'gatehouse_nodejs_active_handles',
      ]),
    );
    // Every metric carries the prefix; no gauge ends in _total (only counters may).
    expect(names.filter((n) => !n.startsWith('gatehouse_'))).toEqual([]);
    const json = await new Metrics().registry.getMetricsAsJSON();
    expect(json.filter((x) => String(x.type) !== 'counter' && x.name.endsWith('_total')).map((x) => x.name)).toEqual([]);
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

  it('records finished queries by route, kind, user and outcome, their duration by route and kind, and error codes', async () => {
    const m = new Metrics();
    m.recordQuery({ route: 'reader', kind: 'read', user: 'app', seconds: 0.003 });
    m.recordQuery({ route: 'reader', kind: 'read', user: 'app', seconds: 0.0002 });
    m.recordQuery({ route: 'reader', kind: 'read', user: 'app', seconds: 2, error: { origin: 'backend', code: 60 } });
    m.recordQuery({ route: 'writer', kind: 'write', user: 'etl', seconds: 700 });
    m.recordQuery({ route: 'local', kind: 'session', user: 'app', seconds: 0, error: { origin: 'proxy', code: 164 } });
    m.countBytes('to_client', 1000);
    m.countBytes('to_client', 24);
    m.countConnect('ch:9000', 'error');
    const text = await renderMetrics(m);
    expect(samples(text, 'gatehouse_queries_total')).toEqual([
      'gatehouse_queries_total{route="reader",kind="read",user="app",outcome="ok"} 2',
      'gatehouse_queries_total{route="reader",kind="read",user="app",outcome="error"} 1',
      'gatehouse_queries_total{route="writer",kind="write",user="etl",outcome="ok"} 1',
      'gatehouse_queries_total{route="local",kind="session",user="app",outcome="error"} 1',
    ]);
    expect(samples(text, 'gatehouse_query_errors_total')).toEqual([
      'gatehouse_query_errors_total{origin="backend",code="60"} 1',
      'gatehouse_query_errors_total{origin="proxy",code="164"} 1',
    ]);
    expect(samples(text, 'gatehouse_bytes_total')).toEqual(['gatehouse_bytes_total{direction="to_client"} 1024']);
    expect(samples(text, 'gatehouse_pool_connects_total')).toEqual(['gatehouse_pool_connects_total{backend="ch:9000",result="error"} 1']);
    // Buckets from 0.1 ms to 10 min: 0.2 ms lands above the first, 700 s only in +Inf.
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="0.0001",route="reader",kind="read"} 0');
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="0.00025",route="reader",kind="read"} 1');
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="0.005",route="reader",kind="read"} 2');
    expect(text).toContain('gatehouse_query_duration_seconds_count{route="reader",kind="read"} 3');
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="600",route="writer",kind="write"} 0');
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="+Inf",route="writer",kind="write"} 1');
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="0.0001",route="local",kind="session"} 1');
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('query and byte counts kept between scrapes are added once (summed off the query path, handed over at scrape time)', async () => {
    const m = new Metrics();
    m.recordQuery({ route: 'reader', kind: 'read', user: 'app', seconds: 0.001 });
    m.countBytes('to_backend', 10);
    expect(samples(await renderMetrics(m), 'gatehouse_queries_total')).toEqual(['gatehouse_queries_total{route="reader",kind="read",user="app",outcome="ok"} 1']);
    // A scrape with nothing new changes nothing.
    expect(samples(await renderMetrics(m), 'gatehouse_queries_total')).toEqual(['gatehouse_queries_total{route="reader",kind="read",user="app",outcome="ok"} 1']);
    for (let i = 0; i < 5; i++) m.recordQuery({ route: 'reader', kind: 'read', user: 'app', seconds: 0.001 });
    m.recordQuery({ route: 'reader', kind: 'read', user: 'app', seconds: 0.001, error: { origin: 'backend', code: 60 } });
    m.countBytes('to_backend', 5);
    m.countBytes('to_client', 7);
    const text = await renderMetrics(m);
    expect(samples(text, 'gatehouse_queries_total')).toEqual([
      'gatehouse_queries_total{route="reader",kind="read",user="app",outcome="ok"} 6',
      'gatehouse_queries_total{route="reader",kind="read",user="app",outcome="error"} 1',
    ]);
    expect(samples(text, 'gatehouse_bytes_total')).toEqual(['gatehouse_bytes_total{direction="to_backend"} 15', 'gatehouse_bytes_total{direction="to_client"} 7']);
  });

  it('counts a kind outside the router\'s set as unknown, and a NaN or negative duration as 0', async () => {
    const m = new Metrics({ processMetrics: false });
    m.recordQuery({ route: 'writer', kind: 'ddl; DROP', user: 'app', seconds: Number.NaN });
    m.recordQuery({ route: 'writer', kind: 'unknown', user: 'app', seconds: -3 });
    const text = await m.render();
    expect(samples(text, 'gatehouse_queries_total')).toEqual(['gatehouse_queries_total{route="writer",kind="unknown",user="app",outcome="ok"} 2']);
    expect(text).toContain('gatehouse_query_duration_seconds_bucket{le="0.0001",route="writer",kind="unknown"} 2');
    expect(text).toContain('gatehouse_query_duration_seconds_sum{route="writer",kind="unknown"} 0');
  });

  it('caps distinct user labels (pass-through clients choose their names) but never for configured users', async () => {
    const m = new Metrics({ maxUserLabels: 2, processMetrics: false });
    m.allowUsers(['app']);
    for (const user of ['u1', 'u2', 'u3', 'u4', 'u1', 'app', '']) m.recordQuery({ route: 'reader', kind: 'read', user, seconds: 0.01 });
    m.allowUsers(['etl']); // after a reload, even with the cap reached
    m.recordQuery({ route: 'writer', kind: 'write', user: 'etl', seconds: 0.01 });
    expect(samples(await m.render(), 'gatehouse_queries_total')).toEqual([
      'gatehouse_queries_total{route="reader",kind="read",user="u1",outcome="ok"} 2',
      'gatehouse_queries_total{route="reader",kind="read",user="u2",outcome="ok"} 1',
      // u3, u4 and the nameless client (ClickHouse's `default`) came after the first two
      'gatehouse_queries_total{route="reader",kind="read",user="other",outcome="ok"} 3',
      'gatehouse_queries_total{route="reader",kind="read",user="app",outcome="ok"} 1',
      'gatehouse_queries_total{route="writer",kind="write",user="etl",outcome="ok"} 1',
    ]);
    expect(() => new Metrics({ maxUserLabels: -1 })).toThrow(RangeError);
  });

  it('observes checkout waits per backend in seconds, 0.1 ms to 1 min', async () => {
    const m = new Metrics({ processMetrics: false });
    m.observeCheckoutWait('reader1', 0.00005);
    m.observeCheckoutWait('reader1', 0.3);
    m.observeCheckoutWait('writer', 90);
    const text = await m.render();
    expect(text).toContain('gatehouse_pool_checkout_wait_seconds_bucket{le="0.0001",backend="reader1"} 1');
    expect(text).toContain('gatehouse_pool_checkout_wait_seconds_bucket{le="0.5",backend="reader1"} 2');
    expect(text).toContain('gatehouse_pool_checkout_wait_seconds_bucket{le="60",backend="writer"} 0');
    expect(text).toContain('gatehouse_pool_checkout_wait_seconds_count{backend="writer"} 1');
  });

  it('keeps registry a plain prom-client Registry that AggregatorRegistry can merge across workers', async () => {
    const workers = [new Metrics({ processMetrics: false }), new Metrics({ processMetrics: false })];
    workers[0].clientConnections.set(2);
    workers[1].clientConnections.set(3);
    workers[0].backendBanned.set({ backend: 'r1' }, 1);
    workers[1].backendBanned.set({ backend: 'r1' }, 1);
    workers[0].setCacheStoreUp(true);
    workers[1].setCacheStoreUp(false);
    for (const w of workers) w.recordQuery({ route: 'reader', kind: 'read', user: 'app', seconds: 0.01 });
    const perWorker = await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON()));
    const text = await AggregatorRegistry.aggregate(perWorker).metrics();
    expect(samples(text, 'gatehouse_client_connections')).toEqual(['gatehouse_client_connections 5']);
    expect(samples(text, 'gatehouse_queries_total')).toEqual(['gatehouse_queries_total{route="reader",kind="read",user="app",outcome="ok"} 2']);
    // Not summed: banned is 1 when any worker bans, the store is up only when every worker reaches it.
    expect(samples(text, 'gatehouse_backend_banned')).toEqual(['gatehouse_backend_banned{backend="r1"} 1']);
    expect(samples(text, 'gatehouse_cache_store_up')).toEqual(['gatehouse_cache_store_up 0']);
  });

  it('reads pool gauges from registered sources at scrape time, summing pools with the same labels', async () => {
    const m = new Metrics();
    let busy = 2;
    const unregisterA = m.addPoolSource(() => [
      { backend: 'r1:9000', user: 'ro', idle: 1, busy, connecting: 1, waiting: 0, max: 8 },
      { backend: 'w:9000', user: 'rw', idle: 0, busy: 1, connecting: 0, waiting: 3, max: 4 },
    ]);
    // e.g. another database
    m.addPoolSource(() => [{ backend: 'r1:9000', user: 'ro', idle: 4, busy: 0, connecting: 0, waiting: 1, max: 8 }]);
    let text = await m.render();
    expect(samples(text, 'gatehouse_pool_connections')).toEqual([
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="idle"} 5',
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="busy"} 2',
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="connecting"} 1',
      'gatehouse_pool_connections{backend="w:9000",user="rw",state="idle"} 0',
      'gatehouse_pool_connections{backend="w:9000",user="rw",state="busy"} 1',
      'gatehouse_pool_connections{backend="w:9000",user="rw",state="connecting"} 0',
    ]);
    expect(samples(text, 'gatehouse_pool_max_connections')).toEqual([
      'gatehouse_pool_max_connections{backend="r1:9000",user="ro"} 16',
      'gatehouse_pool_max_connections{backend="w:9000",user="rw"} 4',
    ]);
    busy = 7;
    unregisterA();
    text = await m.render();
    // Values are re-read, and a pool that went away leaves no stale series.
    expect(samples(text, 'gatehouse_pool_connections')).toEqual([
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="idle"} 4',
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="busy"} 0',
      'gatehouse_pool_connections{backend="r1:9000",user="ro",state="connecting"} 0',
    ]);
    expect(samples(text, 'gatehouse_pool_waiting')).toEqual(['gatehouse_pool_waiting{backend="r1:9000",user="ro"} 1']);
    expect(samples(text, 'gatehouse_pool_max_connections')).toEqual(['gatehouse_pool_max_connections{backend="r1:9000",user="ro"} 8']);
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
      m.cacheRunsKeptTotal.inc();
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
      expect(samples(text, 'gatehouse_cache_runs_kept_total')).toEqual(['gatehouse_cache_runs_kept_total 1']);
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
