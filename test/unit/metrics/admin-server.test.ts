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

  it('answers /status with 404 when no status function is given', async () => {
    const res = await fetch(url('/status'));
    expect([res.status, await res.text()]).toEqual([404, 'not found']);
  });

  describe('/status', () => {
    let s: AdminServer;
    let value: unknown;
    let calls = 0;
    beforeAll(async () => {
      s = await startAdminServer({
        host: '127.0.0.1',
        port: 0,
        metrics,
        isReady: () => true,
        status: () => {
          calls++;
          if (value instanceof Error) throw value;
          return value;
        },
      });
    });
    afterAll(() => s.close());
    const get = async (p = '/status', method = 'GET'): Promise<{ status: number; type: string | null; body: string }> => {
      const res = await fetch(`http://127.0.0.1:${s.port}${p}`, { method });
      return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
    };

    it('answers GET /status with the JSON of status(), computed per request', async () => {
      value = {
        backends: [{ name: 'r1', role: 'reader', healthy: false, banned: { reason: 'ping timeout', untilMs: 5 }, outstanding: 2 }],
        users: { app: { connections: 1, running: 0, queued: 0 } },
        pinnedSessions: 3,
      };
      const first = await get('/status?pretty=1');
      expect(first.status).toBe(200);
      expect(first.type).toBe('application/json; charset=utf-8');
      expect(JSON.parse(first.body)).toEqual(value);
      value = { changed: true };
      expect(JSON.parse((await get()).body)).toEqual({ changed: true });
      expect(calls).toBe(2);
    });

    it('awaits a promise and writes Map, Set and bigint', async () => {
      value = Promise.resolve({ pools: new Map([['r1:9000', { idle: 1n }]]), tags: new Set(['a', 'b']), none: undefined });
      const r = await get();
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ pools: { 'r1:9000': { idle: '1' } }, tags: ['a', 'b'] });
      value = undefined;
      expect((await get()).body.trim()).toBe('null');
    });

    it('answers 500 (and keeps serving) when status() throws, rejects, or is not JSON-writable', async () => {
      value = new Error('boom');
      expect(await get()).toMatchObject({ status: 500, body: 'status failed: Error: boom\n' });
      value = Promise.reject(new Error('later'));
      (value as Promise<unknown>).catch(() => undefined);
      expect(await get()).toMatchObject({ status: 500, body: 'status failed: Error: later\n' });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      value = cyclic;
      expect((await get()).status).toBe(500);
      value = { ok: 1 };
      expect(await get()).toMatchObject({ status: 200 });
      expect((await get('/health')).body).toBe('ok');
    });

    it.each([
      ['POST', '/status'],
      ['GET', '/status/'],
      ['GET', '/status/x'],
    ])('answers %s %s with 404', async (method, p) => {
      expect((await get(p, method)).status).toBe(404);
    });
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
