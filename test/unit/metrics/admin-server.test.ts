import * as net from 'node:net';
import { Metrics, startAdminServer, type AdminServer, type AdminServerOptions, type ReloadResult } from '../../../src/metrics';

/** Status, content type and body of one request. */
async function call(port: number, p: string, method = 'GET', body?: string): Promise<{ status: number; type: string | null; body: string; allow: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { method, body });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text(), allow: res.headers.get('allow') };
}

/** Runs `f` against an admin server started with `opts` (plus host, port 0 and metrics), then closes it. */
async function withServer(opts: Partial<AdminServerOptions>, f: (port: number) => Promise<void>): Promise<void> {
  const s = await startAdminServer({ host: '127.0.0.1', port: 0, metrics: new Metrics({ processMetrics: false }), isReady: () => true, ...opts });
  try {
    await f(s.port);
  } finally {
    await s.close();
  }
}

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

  it('answers /health with 200 "ok" while serving, whether ready or not', async () => {
    ready = false;
    expect(await call(server.port, '/health')).toMatchObject({ status: 200, body: 'ok' });
    ready = true;
    expect(await call(server.port, '/health')).toMatchObject({ status: 200, body: 'ok' });
  });

  it('answers /health with 503 once isServing says no (draining), or throws', async () => {
    let serving = true;
    await withServer({ isServing: () => serving }, async (port) => {
      expect(await call(port, '/health')).toMatchObject({ status: 200, body: 'ok' });
      serving = false;
      expect(await call(port, '/health')).toMatchObject({ status: 503, body: 'not serving' });
    });
    await withServer(
      {
        isServing: () => {
          throw new Error('boom');
        },
      },
      async (port) => expect((await call(port, '/health')).status).toBe(503),
    );
  });

  it('answers /ready with 200 and JSON while isReady() is true, 503 otherwise', async () => {
    ready = true;
    expect(await call(server.port, '/ready')).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: '{"ready":true}\n', allow: null });
    ready = false;
    const r = await call(server.port, '/ready');
    expect([r.status, JSON.parse(r.body)]).toEqual([503, { ready: false, notReady: ['not ready'] }]);
    ready = true;
  });

  it('lists what is not ready in the 503 body when isReady() says why', async () => {
    let state: ReturnType<AdminServerOptions['isReady']> = { ready: false, notReady: ['writer w1: no health check answered yet', 'no reader takes reads (r1: failing its health checks)'] };
    await withServer({ isReady: () => state }, async (port) => {
      const r = await call(port, '/ready');
      expect(r.status).toBe(503);
      expect(r.type).toBe('application/json; charset=utf-8');
      expect(JSON.parse(r.body)).toEqual(state);
      state = { ready: true };
      expect(await call(port, '/ready')).toMatchObject({ status: 200, body: '{"ready":true}\n' });
    });
  });

  it('answers /ready with 503, and no error text, when the readiness check throws', async () => {
    await withServer(
      {
        isReady: () => {
          throw new Error('redis://:hunter2@cache:6379 unreachable');
        },
      },
      async (port) => {
        const r = await call(port, '/ready');
        expect([r.status, JSON.parse(r.body)]).toEqual([503, { ready: false, notReady: ['readiness check failed'] }]);
        expect((await call(port, '/health')).status).toBe(200);
      },
    );
  });

  it('serves the Prometheus text on /metrics with prom-client\'s content type', async () => {
    metrics.recordQuery({ route: 'local', kind: 'session', user: 'app', seconds: 0.0001 });
    const res = await fetch(url('/metrics?debug=1'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.contentType);
    const body = await res.text();
    expect(body).toContain('# TYPE gatehouse_queries_total counter');
    expect(body).toContain('gatehouse_queries_total{route="local",kind="session",user="app",outcome="ok"} 1');
    expect(body).toContain('# TYPE gatehouse_process_cpu_seconds_total counter');
  });

  it.each([
    ['GET', '/'],
    ['GET', '/healthz'],
    ['GET', '/metrics/x'],
    ['POST', '/health'],
    ['POST', '/ready'],
    ['GET', '/ready/'],
    ['DELETE', '/metrics'],
    ['POST', '/reload'],
    ['GET', '/reload'],
  ])('answers %s %s with 404 (no reload configured here)', async (method, p) => {
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

  describe('/reload', () => {
    let result: ReloadResult | Error = { ok: true };
    let calls = 0;
    const reload = async (): Promise<ReloadResult> => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (result instanceof Error) throw result;
      return result;
    };

    it('answers POST /reload with 200 and {"ok":true} when the reload is applied', async () => {
      await withServer({ reload }, async (port) => {
        result = { ok: true };
        calls = 0;
        expect(await call(port, '/reload', 'POST')).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: '{"ok":true}\n', allow: null });
        // A body (curl -d) is read and ignored; the keep-alive connection stays usable.
        expect((await call(port, '/reload', 'POST', 'x'.repeat(100_000))).status).toBe(200);
        expect(calls).toBe(2);
        // What the reload adds (keys that need a restart) is passed on.
        result = { ok: true, notApplied: ['listen'] };
        expect(JSON.parse((await call(port, '/reload', 'POST')).body)).toEqual({ ok: true, notApplied: ['listen'] });
      });
    });

    it('answers 400 with every error when the new config is refused', async () => {
      await withServer({ reload }, async (port) => {
        result = { ok: false, errors: ['users.0.name: Required', 'pool.max_size: Number must be greater than or equal to 1'] };
        const r = await call(port, '/reload', 'POST');
        expect([r.status, r.type, JSON.parse(r.body)]).toEqual([400, 'application/json; charset=utf-8', result]);
      });
    });

    it('answers 500 without the thrown message when reload throws, and keeps serving', async () => {
      await withServer({ reload }, async (port) => {
        result = new Error('cannot parse line 3: password: hunter2');
        const r = await call(port, '/reload', 'POST');
        expect([r.status, JSON.parse(r.body)]).toEqual([500, { ok: false, errors: ['reload failed: internal error'] }]);
        expect(r.body).not.toContain('hunter2');
        result = { ok: true };
        expect((await call(port, '/reload', 'POST')).status).toBe(200);
      });
    });

    it.each(['GET', 'PUT', 'DELETE'])('answers %s /reload with 405 and Allow: POST, without reloading', async (method) => {
      await withServer({ reload }, async (port) => {
        calls = 0;
        expect(await call(port, '/reload', method)).toMatchObject({ status: 405, allow: 'POST' });
        expect(calls).toBe(0);
      });
    });
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
