import * as net from 'node:net';
import { Metrics, startAdminServer, type AdminServer } from '../../../src/metrics';

describe('admin server', () => {
  let server: AdminServer;
  let ready = true;
  const metrics = new Metrics();

  beforeAll(async () => {
    server = await startAdminServer({ host: '127.0.0.1', port: 0, metrics, isReady: () => ready });
  });
  afterAll(() => server.close());

  const url = (p: string): string => `http://127.0.0.1:${server.port}${p}`;

  it('listens on the port it reports', () => {
    expect(server.port).toBeGreaterThan(0);
  });

  it('answers /health with 200 "ok" while ready, 503 otherwise', async () => {
    ready = true;
    let res = await fetch(url('/health'));
    expect([res.status, await res.text()]).toEqual([200, 'ok']);
    ready = false;
    res = await fetch(url('/health'));
    expect([res.status, await res.text()]).toEqual([503, 'not ready']);
    ready = true;
  });

  it('serves the Prometheus text on /metrics with prom-client\'s content type', async () => {
    metrics.countQuery('local', 'session');
    const res = await fetch(url('/metrics?debug=1'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.contentType);
    const body = await res.text();
    expect(body).toContain('# TYPE gatehouse_queries_total counter');
    expect(body).toContain('gatehouse_queries_total{route="local",kind="session"} 1');
  });

  it.each([
    ['GET', '/'],
    ['GET', '/healthz'],
    ['GET', '/metrics/x'],
    ['POST', '/health'],
    ['DELETE', '/metrics'],
  ])('answers %s %s with 404', async (method, p) => {
    const res = await fetch(url(p), { method });
    expect(res.status).toBe(404);
    await res.text();
  });

  it('answers 503 when the readiness check throws', async () => {
    const s = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      isReady: () => {
        throw new Error('boom');
      },
    });
    try {
      expect((await fetch(`http://127.0.0.1:${s.port}/health`)).status).toBe(503);
    } finally {
      await s.close();
    }
  });

  it('rejects when the port is taken, and close() ends keep-alive connections and is idempotent', async () => {
    await expect(startAdminServer({ host: '127.0.0.1', port: server.port, metrics, isReady: () => true })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    const s = await startAdminServer({ host: '127.0.0.1', port: 0, metrics, isReady: () => true });
    // A raw keep-alive client: close() must not wait for it to hang up.
    const sock = net.connect(s.port, '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    const closedByServer = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await new Promise<void>((resolve) => sock.once('data', () => resolve()));
    await Promise.all([s.close(), s.close()]);
    await closedByServer;
    await s.close();
  });
});
