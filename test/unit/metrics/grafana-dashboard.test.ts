/**
 * grafana/gatehouse.json against the registry: every metric its queries name exists (a rename in the registry must
 * update the dashboard), every panel reads from the ${DS_PROMETHEUS} data source, and the panels the operations
 * issue asks for are there. The queries themselves are run against a real Prometheus in
 * test/integration/observability.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Metrics } from '../../../src/metrics';

interface Target {
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
}

const FILE = path.join(__dirname, '..', '..', '..', 'grafana', 'gatehouse.json');
const dashboard = JSON.parse(fs.readFileSync(FILE, 'utf8')) as {
  title: string;
  uid: string;
  panels: Panel[];
  __inputs: { name: string; type: string; pluginId: string }[];
  templating: { list: { name: string; type: string; query: unknown }[] };
};
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

/** Metric names an expression reads (every Gatehouse metric starts with gatehouse_). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bgatehouse_[a-z0-9_]+/g)].map((m) => m[0]);
}

describe('grafana/gatehouse.json', () => {
  it('is a dashboard with a data source input and variable named DS_PROMETHEUS', () => {
    expect(dashboard.title).toBe('Gatehouse');
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    expect(dashboard.templating.list.find((v) => v.name === 'DS_PROMETHEUS')).toMatchObject({ type: 'datasource', query: 'prometheus' });
  });

  it('reads every panel and query from ${DS_PROMETHEUS}, with unique panel ids', () => {
    const ds = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
    for (const p of panels) {
      expect([p.title, p.datasource]).toEqual([p.title, ds]);
      expect(p.targets?.length).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect([p.title, t.datasource]).toEqual([p.title, ds]);
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('names only metrics the registry declares (histogram series by their _bucket, _sum and _count)', async () => {
    const declared = new Map((await new Metrics().registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
    const unknown = new Set<string>();
    for (const name of exprs.flatMap(metricNames)) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const ok = declared.has(name) || (base !== name && declared.get(base) === 'histogram');
      if (!ok) unknown.add(name);
    }
    expect([...unknown]).toEqual([]);
  });

  it('has the panels the operations issue asks for', () => {
    const used = new Set(exprs.flatMap(metricNames));
    for (const name of [
      'gatehouse_queries_total',
      'gatehouse_query_duration_seconds_bucket',
      'gatehouse_query_errors_total',
      'gatehouse_pool_connections',
      'gatehouse_pool_waiting',
      'gatehouse_pool_max_connections',
      'gatehouse_pool_checkout_wait_seconds_bucket',
      'gatehouse_backend_banned',
      'gatehouse_backend_bans_total',
      'gatehouse_cache_hits_total',
      'gatehouse_cache_misses_total',
      'gatehouse_cache_bypass_total',
      'gatehouse_bytes_total',
      'gatehouse_client_connections',
      'gatehouse_process_cpu_seconds_total',
      'gatehouse_process_resident_memory_bytes',
    ]) {
      expect([name, used.has(name)]).toEqual([name, true]);
    }
    expect(exprs).toEqual(expect.arrayContaining([expect.stringMatching(/^histogram_quantile\(0\.5, .*gatehouse_query_duration_seconds_bucket/)]));
    expect(exprs).toEqual(expect.arrayContaining([expect.stringMatching(/^histogram_quantile\(0\.99, .*gatehouse_query_duration_seconds_bucket/)]));
    expect(exprs).toEqual(expect.arrayContaining([expect.stringMatching(/^histogram_quantile\(0\.99, .*gatehouse_pool_checkout_wait_seconds_bucket/)]));
    expect(exprs).toEqual(expect.arrayContaining([expect.stringContaining('sum by (route, outcome) (rate(gatehouse_queries_total')]));
  });
});
