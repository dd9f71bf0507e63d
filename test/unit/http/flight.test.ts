/**
 * HttpFlight (src/http/flight.ts), the fan-out of one backend answer to several HTTP clients, driven by hand the way an
 * Exchange drives it (writeHead, write, end) with real loopback HTTP clients on the other side: who gets which head,
 * late joiners, error answers, failures before and after the start, the entry cap, clients leaving, a client that
 * stops reading, and an entry from another instance.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeHttpEntry, readHttpEntry } from '../../../src/cache';
import type { Exchange } from '../../../src/http/exchange';
import { HttpFlight, type HttpFlightOptions } from '../../../src/http/flight';

let server: http.Server;
let port: number;
const waiting: ((res: http.ServerResponse) => void)[] = [];

beforeAll(async () => {
  server = http.createServer((_req, res) => waiting.shift()!(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Client {
  /** The proxy side of the request. */
  res: http.ServerResponse;
  /** What the client received; rejects when its connection was cut. */
  got: Promise<Got>;
  req: http.ClientRequest;
  /** The response's head arrived. */
  responded: Promise<void>;
  /** Stop reading (the response is paused). */
  pause(): void;
}

async function client(): Promise<Client> {
  const res = new Promise<http.ServerResponse>((r) => waiting.push(r));
  let incoming: http.IncomingMessage | null = null;
  let responded!: () => void;
  const head = new Promise<void>((r) => (responded = r));
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false });
  const got = new Promise<Got>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (m) => {
      incoming = m;
      responded();
      const chunks: Buffer[] = [];
      m.on('data', (c: Buffer) => chunks.push(c));
      m.on('end', () => resolve({ status: m.statusCode!, headers: m.headers, body: Buffer.concat(chunks) }));
      m.on('aborted', () => reject(new Error('aborted')));
      m.on('error', reject);
    });
  });
  got.catch(() => undefined);
  return { res: await res, got, req, responded: head, pause: () => incoming?.pause() };
}

const options = (o: Partial<HttpFlightOptions> = {}): HttpFlightOptions => ({
  key: 'k', maxEntryBytes: 1 << 20, tables: ['default.t', '*'], ttlMs: 60_000, maxPausedMs: 0, background: false, ...o,
});

const HEAD = ['Content-Type', 'text/tab-separated-values; charset=UTF-8', 'X-ClickHouse-Server-Display-Name', 'node1', 'Date', 'today'];

/** A stand-in for the Exchange: records aborts. */
function fakeExchange(): Exchange & { aborts: number } {
  const x = { aborts: 0, abort: () => ((x.aborts += 1), true) };
  return x as unknown as Exchange & { aborts: number };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('HttpFlight', () => {
  test('a 200 answer reaches the leader with the backend head and followers with the kept headers, live and late', async () => {
    const f = new HttpFlight(options());
    const [a, b, c] = [await client(), await client(), await client()];
    const leader = f.join(a.res, 'qid-leader', true);
    const early = f.join(b.res, 'qid-b');
    f.writeHead(200, [...HEAD]);
    f.write(Buffer.from('1\n'));
    expect(f.joinable).toBe(true);
    const late = f.join(c.res, ''); // gets '1\n' from the recording first
    f.write(Buffer.from('2\n'));
    f.end();
    const [ga, gb, gc] = await Promise.all([a.got, b.got, c.got]);
    for (const g of [ga, gb, gc]) expect([g.status, g.body.toString()]).toEqual([200, '1\n2\n']);
    expect(ga.headers).toMatchObject({ 'x-cache': 'MISS', 'x-cache-status': 'MISS', date: 'today', 'x-clickhouse-query-id': 'qid-leader' });
    expect(gb.headers).toMatchObject({ 'x-cache': 'HIT', 'x-cache-status': 'COALESCED', 'x-clickhouse-query-id': 'qid-b', 'x-clickhouse-server-display-name': 'node1' });
    expect(gb.headers.date).not.toBe('today'); // per-answer headers are the leader's only
    expect(gc.headers['x-clickhouse-query-id']).toBeUndefined();
    for (const s of [leader, early, late]) expect((await s.done).kind).toBe('answered');
    const entry = readHttpEntry(f.entry!);
    expect(entry.body.toString()).toBe('1\n2\n');
    expect(entry.headers).toEqual([
      ['content-type', 'text/tab-separated-values; charset=UTF-8'],
      ['x-clickhouse-server-display-name', 'node1'],
    ]);
    // Until its owner forgets it, a finished flight still answers from its entry.
    const d = await client();
    expect((await f.join(d.res, '').done).kind).toBe('answered');
    expect((await d.got).headers['x-cache-status']).toBe('COALESCED');
  });

  test('an error answer goes to the leader alone; followers are told to run the query themselves', async () => {
    const f = new HttpFlight(options());
    const [a, b] = [await client(), await client()];
    const leader = f.join(a.res, '', true);
    const follower = f.join(b.res, '');
    f.writeHead(500, ['Content-Type', 'text/plain', 'X-ClickHouse-Exception-Code', '395']);
    expect(await follower.done).toEqual({ kind: 'unanswered', error: null });
    expect(f.joinable).toBe(false);
    f.write(Buffer.from('Code: 395, e.displayText() = boom\n'));
    f.end();
    expect(await leader.done).toMatchObject({ kind: 'answered', status: 500 });
    const g = await a.got;
    expect([g.status, g.headers['x-cache'], g.body.toString()]).toEqual([500, undefined, 'Code: 395, e.displayText() = boom\n']);
    expect(f.entry).toBeNull();
    b.req.destroy();
  });

  test('a failure before the answer leaves everyone unanswered; after it, clients with part of it are cut', async () => {
    const before = new HttpFlight(options());
    const a = await client();
    const s = before.join(a.res, '', true);
    before.fail(new Error('backend gone'));
    expect(await s.done).toMatchObject({ kind: 'unanswered' });
    a.req.destroy();

    const after = new HttpFlight(options());
    const [b, c] = [await client(), await client()];
    const sb = after.join(b.res, '', true);
    after.writeHead(200, [...HEAD]);
    after.write(Buffer.from('partial\n'));
    const sc = after.join(c.res, '');
    after.fail(new Error('backend gone'));
    expect(await sb.done).toMatchObject({ kind: 'cut' });
    expect(await sc.done).toMatchObject({ kind: 'cut' });
    await expect(b.got).rejects.toThrow();
    await expect(c.got).rejects.toThrow();
    expect(after.entry).toBeNull();
  });

  test('past the entry cap nobody can join and nothing is stored, but the clients get the whole answer', async () => {
    const f = new HttpFlight(options({ maxEntryBytes: 4 }));
    const a = await client();
    f.join(a.res, '', true);
    f.writeHead(200, [...HEAD]);
    f.write(Buffer.from('123'));
    expect(f.joinable).toBe(true);
    f.write(Buffer.from('456'));
    expect([f.joinable, f.overCap]).toEqual([false, true]);
    f.end();
    expect((await a.got).body.toString()).toBe('123456');
    expect(f.entry).toBeNull();
  });

  test('clients leave independently; the last one leaving cuts the backend request', async () => {
    const f = new HttpFlight(options());
    const x = fakeExchange();
    const cuts: boolean[] = [];
    const [a, b] = [await client(), await client()];
    const sa = f.join(a.res, '', true);
    const sb = f.join(b.res, '');
    f.attach(x, (clientGone) => cuts.push(clientGone));
    a.req.destroy(); // the leader goes
    expect(await sa.done).toMatchObject({ kind: 'gone' });
    expect([x.aborts, f.aborted]).toEqual([0, false]);
    f.writeHead(200, [...HEAD]);
    f.write(Buffer.from('x'));
    b.req.destroy();
    expect(await sb.done).toMatchObject({ kind: 'gone' });
    expect([x.aborts, f.aborted, cuts]).toEqual([1, true, [true]]);
    expect(f.joinable).toBe(false);
  });

  test('a refresh (background) runs on with no client', async () => {
    const f = new HttpFlight(options({ background: true }));
    const x = fakeExchange();
    f.attach(x, null);
    const a = await client();
    const s = f.join(a.res, '');
    a.req.destroy();
    expect(await s.done).toMatchObject({ kind: 'gone' });
    expect(x.aborts).toBe(0);
    f.writeHead(200, [...HEAD]);
    expect(f.write(Buffer.from('fresh'))).toBe(true);
    f.end();
    expect(readHttpEntry(f.entry!).body.toString()).toBe('fresh');
  });

  describe('the last client leaving while the answer is fed to other instances', () => {
    /** A feed tap whose remoteReaders() answers when told to. */
    function tap() {
      let answer!: (read: boolean) => void;
      const t = {
        asked: 0,
        ended: [] as string[],
        head: () => undefined,
        chunk: () => undefined,
        end: (status: string) => void t.ended.push(status),
        remoteReaders: () => {
          t.asked += 1;
          return new Promise<boolean>((r) => (answer = r));
        },
        answer: (read: boolean) => answer(read),
      };
      return t;
    }

    async function leaderLeavesMidAnswer(f: HttpFlight) {
      const x = fakeExchange();
      const cuts: boolean[] = [];
      const a = await client();
      const sa = f.join(a.res, '', true);
      f.attach(x, (clientGone) => cuts.push(clientGone));
      f.writeHead(200, [...HEAD]);
      f.write(Buffer.from('part'));
      a.req.destroy();
      expect(await sa.done).toMatchObject({ kind: 'gone' });
      return { x, cuts };
    }

    test('read elsewhere: the run goes on to its end and is stored, nothing is cut', async () => {
      const f = new HttpFlight(options());
      const t = tap();
      f.setTap(t);
      const { x, cuts } = await leaderLeavesMidAnswer(f);
      expect(t.asked).toBe(1);
      t.answer(true);
      await tick();
      expect([x.aborts, f.aborted, cuts, f.unattended]).toEqual([0, false, [], true]);
      f.write(Buffer.from('+rest'));
      f.end();
      expect(t.ended).toEqual(['ok']);
      expect(readHttpEntry(f.entry!).body.toString()).toBe('part+rest');
    });

    test('read nowhere: the run is cut as without a feed', async () => {
      const f = new HttpFlight(options());
      const t = tap();
      f.setTap(t);
      const { x, cuts } = await leaderLeavesMidAnswer(f);
      expect(x.aborts).toBe(0); // not before the store answered
      t.answer(false);
      await tick();
      expect([x.aborts, f.aborted, cuts]).toEqual([1, true, [true]]);
    });

    test('a client joining while the store is asked keeps the run, whatever the answer', async () => {
      const f = new HttpFlight(options());
      const t = tap();
      f.setTap(t);
      const { x } = await leaderLeavesMidAnswer(f);
      const b = await client();
      const sb = f.join(b.res, '');
      t.answer(false);
      await tick();
      expect([x.aborts, f.aborted]).toEqual([0, false]);
      f.end();
      expect(await sb.done).toMatchObject({ kind: 'answered' });
      expect((await b.got).body.toString()).toBe('part');
    });
  });

  test('a client that stops reading holds the others back until maxPausedMs, then it is dropped', async () => {
    const f = new HttpFlight(options({ maxPausedMs: 300, maxEntryBytes: 1 }));
    const [slow, fast] = [await client(), await client()];
    const ss = f.join(slow.res, '', true);
    const sf = f.join(fast.res, '');
    f.writeHead(200, [...HEAD]);
    f.write(Buffer.from('start\n'));
    await slow.responded;
    slow.pause();
    // Write until a drain does not come (the kernel's socket buffers take a few MB first).
    const chunk = Buffer.alloc(256 * 1024, 120);
    let stalled: Promise<void> | null = null;
    for (let i = 0; i < 200 && stalled === null; i++) {
      if (f.write(chunk)) continue;
      const drain = new Promise<void>((r) => f.once('drain', r));
      const quick = await Promise.race([drain.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
      if (!quick) stalled = drain;
    }
    expect(stalled).not.toBeNull();
    const t0 = Date.now();
    await stalled;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100); // held until the slow one was dropped (300 ms after it filled)
    expect(await ss.done).toMatchObject({ kind: 'gone' });
    f.write(Buffer.from('end\n'));
    f.end();
    expect(await sf.done).toMatchObject({ kind: 'answered' });
    expect((await fast.got).body.subarray(-4).toString()).toBe('end\n');
  });

  test("another instance's entry serves every client; a client that left before joining is gone at once", async () => {
    const f = new HttpFlight(options());
    const [a, b, c] = [await client(), await client(), await client()];
    const sa = f.join(a.res, 'proxy-made', true, 'q1'); // no query ran with the proxy's id: the client's is echoed
    const sb = f.join(b.res, '');
    c.req.destroy();
    await new Promise((r) => c.res.once('close', r));
    expect(await f.join(c.res, '').done).toEqual({ kind: 'gone', bytes: 0 });
    f.serveEntry(makeHttpEntry({ headers: [['content-type', 'text/plain']], body: [Buffer.from('42\n')], tables: ['*'], ttlMs: 1000 }));
    for (const [s, cl] of [[sa, a], [sb, b]] as const) {
      expect((await s.done).kind).toBe('answered');
      const g = await cl.got;
      expect([g.body.toString(), g.headers['x-cache'], g.headers['x-cache-status'], g.headers['content-type']]).toEqual(['42\n', 'HIT', 'COALESCED', 'text/plain']);
    }
    expect((await a.got).headers['x-clickhouse-query-id']).toBe('q1');
    await tick();
  });
});
