/**
 * Issue 7, the HTTP frontend, against the real sandbox cluster through a `gatehouse serve --http` process, with curl as
 * the client: answers byte-identical to the same request sent straight to a node (formats, errors, gzip), routing
 * proven by node markers, the backend identity of reads and writes, proxy users' credentials in each of ClickHouse's
 * three places, read-only users, sessions, and a client abort that must not leave the query running on the backend.
 *
 * Who ran a query: 18.16 has no currentUser(), so a query reports its own backend account with
 * `(SELECT any(user) FROM system.processes WHERE query LIKE '%<marker>%')` (the query's own text carries the marker).
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { CompressionMethod, encodeFrame } from '../../src/protocol';
import { httpQuery, runProcess, startSandboxCluster, type ClickHouseServer, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';

const CURL = '/usr/bin/curl';
const APP = { name: 'app', password: 'app_pw' } as const;
const VIEWER = { name: 'viewer', password: 'viewer_pw' } as const;

let cluster: SandboxCluster;
let gh: Gatehouse;
let tmpDir: string;

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const marker = (what: string) => `mk_${what}_${randomUUID().slice(0, 8)}`;
const userOf = (mk: string) => `(SELECT any(user) FROM system.processes WHERE query LIKE '%${mk}%')`;
const direct = (node: ClickHouseServer, sql: string) => httpQuery(node.httpPort, sql);

interface CurlAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** curl with `-i` (the final response's head and body); `args` come before the URL. */
async function curl(url: string, args: string[] = [], stdin?: string): Promise<CurlAnswer> {
  const res = await runProcess('curl', CURL, ['-s', '-i', ...args, url], { timeoutMs: 30_000, stdin });
  if (res.code !== 0) throw new Error(`curl failed (${res.code}): ${res.stderr}`);
  let out = res.stdout;
  // Interim answers (100 Continue to a large body's Expect) come first; the final one follows.
  while (/^HTTP\/1\.1 1\d\d /.test(out)) out = out.slice(out.indexOf('\r\n\r\n') + 4);
  const split = out.indexOf('\r\n\r\n');
  const head = out.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(head[0].split(' ')[1]), headers, body: out.slice(split + 4) };
}

const viaProxy = (query = '') => `http://127.0.0.1:${gh.httpPort}/${query}`;
const viaNode = (n: ClickHouseServer, query = '') => `http://127.0.0.1:${n.httpPort}/${query}`;
const asApp = ['-u', `${APP.name}:${APP.password}`];
const asReader = () => ['-H', `X-ClickHouse-User: ${cluster.users.reader.name}`, '-H', `X-ClickHouse-Key: ${cluster.users.reader.password}`];

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-http-'));
  cluster = await startSandboxCluster();
  await Promise.all(
    cluster.nodes.map(async (n) => {
      await direct(n, 'CREATE DATABASE IF NOT EXISTS ht');
      await direct(n, 'CREATE TABLE ht.events (id UInt32, name String) ENGINE = Memory');
      await direct(n, 'CREATE TABLE ht.who (u String) ENGINE = Memory');
    }),
  );
  const [reader1, reader2] = cluster.readers;
  const yaml = [
    `writer: "127.0.0.1:${cluster.writer.tcpPort}"`,
    `readers: ["127.0.0.1:${reader1.tcpPort}", "127.0.0.1:${reader2.tcpPort}"]`,
    'users:',
    `  - { name: ${APP.name}, password_sha256_hex: ${sha256Hex(APP.password)} }`,
    `  - { name: ${VIEWER.name}, password_sha256_hex: ${sha256Hex(VIEWER.password)}, readonly: true }`,
    `  - { name: limited, password_sha256_hex: ${sha256Hex('limited_pw')}, max_concurrent_queries: 1, query_timeout_ms: 1500 }`,
    `  - { name: farnet, password_sha256_hex: ${sha256Hex('farnet_pw')}, networks: ["10.0.0.0/8"] }`,
    `read_user: { name: ${cluster.users.reader.name}, password: ${cluster.users.reader.password} }`,
    `write_user: { name: ${cluster.users.writer.name}, password: ${cluster.users.writer.password} }`,
    'http:',
    '  listen: 127.0.0.1:0',
    `  backend_ports: { writer: ${cluster.writer.httpPort}, reader1: ${reader1.httpPort}, reader2: ${reader2.httpPort} }`,
  ].join('\n');
  const cfg = path.join(tmpDir, 'http.yaml');
  fs.writeFileSync(cfg, yaml);
  gh = await startGatehouse(['--config', cfg, '--admin', '127.0.0.1:0']);
  expect(gh.httpPort).not.toBeNull();
}, 90_000);

afterAll(async () => {
  await gh?.stop();
  await cluster?.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('answers as ClickHouse gives them', () => {
  const select = 'SELECT number, toString(number * 7) AS s, [number, 1] AS a FROM numbers(2000)';

  test.each(['TabSeparated', 'JSONEachRow', 'CSVWithNames'])('SELECT … FORMAT %s: byte-identical to a reader', async (format) => {
    const sql = `${select} FORMAT ${format}`;
    const through = await curl(viaProxy(), [...asApp, '--data-binary', sql]);
    const straight = await curl(viaNode(cluster.readers[0]), [...asReader(), '--data-binary', sql]);
    expect(through.status).toBe(200);
    expect(through.body).toBe(straight.body);
    expect(through.headers['content-type']).toBe(straight.headers['content-type']);
    expect(through.body.length).toBeGreaterThan(10_000);
  });

  test('default_format and ?query= with GET: identical', async () => {
    // (not a JSON format: their statistics carry the elapsed time)
    const q = `?query=${encodeURIComponent(select)}&default_format=TSVWithNamesAndTypes`;
    const through = await curl(viaProxy(q), asApp);
    const straight = await curl(viaNode(cluster.readers[1], q), asReader());
    expect(through.status).toBe(200);
    expect(through.body).toBe(straight.body);
  });

  test('an unknown table: status and body as the node answers, and X-ClickHouse-Exception-Code', async () => {
    const sql = 'SELECT * FROM ht.no_such_table';
    const through = await curl(viaProxy(), [...asApp, '--data-binary', sql]);
    const straight = await curl(viaNode(cluster.readers[0]), [...asReader(), '--data-binary', sql]);
    expect(straight.status).toBe(404);
    expect(through.status).toBe(straight.status);
    expect(through.body).toBe(straight.body);
    expect(through.body).toMatch(/^Code: 60, /);
    expect(through.headers['x-clickhouse-exception-code']).toBe('60');
  });

  test('gzip (enable_http_compression + Accept-Encoding): compressed by the backend, identical once decoded', async () => {
    const q = '?enable_http_compression=1';
    const sql = `${select} FORMAT TabSeparated`;
    const through = await curl(viaProxy(q), [...asApp, '--compressed', '--data-binary', sql]);
    const straight = await curl(viaNode(cluster.readers[0], q), [...asReader(), '--compressed', '--data-binary', sql]);
    expect(through.headers['content-encoding']).toBe('gzip');
    expect(through.body).toBe(straight.body);
    // And the proxy did not decode it: the raw bytes are gzip.
    const raw = await rawRequest(`${q}&query=${encodeURIComponent('SELECT 1')}`, { 'Accept-Encoding': 'gzip', Authorization: basic(APP) });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(raw.body).toString()).toBe('1\n');
  });
});

describe('a compressed request body', () => {
  /** `body` written to a temp file, for curl's --data-binary @file (curl would mangle binary on stdin in a string). */
  const bodyFile = (name: string, body: Buffer): string => {
    const f = path.join(tmpDir, name);
    fs.writeFileSync(f, body);
    return f;
  };
  const NODE_SQL = 'SELECT name FROM gatehouse_meta.node';
  const encodings: [string, string[], Buffer][] = [
    ['Content-Encoding: gzip', ['-H', 'Content-Encoding: gzip'], gzipSync(NODE_SQL)],
    ['Content-Encoding: deflate', ['-H', 'Content-Encoding: deflate'], deflateSync(NODE_SQL)],
    ['decompress=1 (LZ4 frames)', [], encodeFrame(Buffer.from(NODE_SQL), CompressionMethod.LZ4)],
    ['decompress=1 (ZSTD frames)', [], encodeFrame(Buffer.from(NODE_SQL), CompressionMethod.ZSTD)],
    ['gzip around decompress=1 frames', ['-H', 'Content-Encoding: gzip'], gzipSync(encodeFrame(Buffer.from(NODE_SQL), CompressionMethod.LZ4))],
  ];

  test.each(encodings)('%s: the query inside is read, so a read goes to a reader, and the body reaches it unchanged', async (name, headers, body) => {
    const frames = name.includes('decompress=1');
    const file = bodyFile(`q-${randomUUID()}`, body);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const res = await curl(viaProxy(frames ? '?decompress=1' : ''), [...asApp, ...headers, '--data-binary', `@${file}`]);
      expect(res.status).toBe(200);
      seen.add(res.body.trim());
    }
    expect([...seen].sort()).toEqual(['reader1', 'reader2']);
    // A read-only proxy user may send it: it is a read.
    const viewer = await curl(viaProxy(frames ? '?decompress=1' : ''), ['-u', `${VIEWER.name}:${VIEWER.password}`, ...headers, '--data-binary', `@${file}`]);
    expect(viewer.status).toBe(200);
  });

  test('a gzip INSERT with its data in the body goes to the writer; a read-only user is refused with 164', async () => {
    // Only the writer has the table: had the INSERT gone to a reader, it would fail there (60).
    await direct(cluster.writer, 'CREATE TABLE ht.gz (id UInt32, name String) ENGINE = Memory');
    // Larger than max_query_bytes once decoded: only the head is decoded, the whole body still streams through.
    const rows = Array.from({ length: 150_000 }, (_, i) => `${i}\tname-${i}`).join('\n') + '\n';
    const file = bodyFile('insert.gz', gzipSync(`INSERT INTO ht.gz FORMAT TabSeparated\n${rows}`));
    const res = await curl(viaProxy(), [...asApp, '-H', 'Content-Encoding: gzip', '--data-binary', `@${file}`]);
    expect(res.status).toBe(200);
    expect((await direct(cluster.writer, 'SELECT count(), sum(id) FROM ht.gz')).trim()).toBe(`150000\t${(149_999 * 150_000) / 2}`);
    const viewer = await curl(viaProxy(), ['-u', `${VIEWER.name}:${VIEWER.password}`, '-H', 'Content-Encoding: gzip', '--data-binary', `@${file}`]);
    expect(viewer.status).toBe(500);
    expect(viewer.headers['x-clickhouse-exception-code']).toBe('164');
    expect((await direct(cluster.writer, 'SELECT count() FROM ht.gz')).trim()).toBe('150000');
  });

  test('a body that does not decode, or an encoding 18.16 does not know, goes to the writer, which answers as it would directly', async () => {
    const broken = bodyFile('broken.gz', Buffer.concat([gzipSync(NODE_SQL).subarray(0, 12), Buffer.from('not gzip at all')]));
    const viaGh = await curl(viaProxy(), [...asApp, '-H', 'Content-Encoding: gzip', '--data-binary', `@${broken}`]);
    const straight = await curl(viaNode(cluster.writer), [...asReader(), '-H', 'Content-Encoding: gzip', '--data-binary', `@${broken}`]);
    expect(viaGh.status).toBe(straight.status);
    expect(viaGh.body).toBe(straight.body);
    expect(viaGh.body).toMatch(/^Code: 354\b/);
    const br = await curl(viaProxy(), [...asApp, '-H', 'Content-Encoding: br', '--data-binary', NODE_SQL]);
    expect(br.body).toMatch(/^Code: 89, .*Unknown Content-Encoding of HTTP request: br/);
  });
});

describe('INSERT through the proxy', () => {
  test('data in the body with the query in the URL, and query plus data in the body: rows on the writer only', async () => {
    const q = `?query=${encodeURIComponent('INSERT INTO ht.events FORMAT TabSeparated')}`;
    const a = await curl(viaProxy(q), [...asApp, '--data-binary', '1\tone\n2\ttwo\n']);
    expect(a.status).toBe(200);
    const b = await curl(viaProxy(), [...asApp, '--data-binary', 'INSERT INTO ht.events FORMAT TabSeparated\n3\tthree\n']);
    expect(b.status).toBe(200);
    const c = await curl(viaProxy(), [...asApp, '--data-binary', "INSERT INTO ht.events VALUES (4, 'four')"]);
    expect(c.status).toBe(200);
    expect((await direct(cluster.writer, 'SELECT count() FROM ht.events')).trim()).toBe('4');
    for (const r of cluster.readers) expect((await direct(r, 'SELECT count() FROM ht.events')).trim()).toBe('0');
  });

  test('a body larger than max_query_bytes streams through whole', async () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => `${i}\tname-${i}`).join('\n') + '\n';
    await direct(cluster.writer, 'CREATE TABLE ht.big (id UInt32, name String) ENGINE = Memory');
    const res = await curl(viaProxy(), [...asApp, '--data-binary', '@-'], `INSERT INTO ht.big FORMAT TabSeparated\n${rows}`);
    expect(res.status).toBe(200);
    expect((await direct(cluster.writer, 'SELECT count(), sum(id) FROM ht.big')).trim()).toBe(`200000\t${(199_999 * 200_000) / 2}`);
  });
});

describe('routing and identities', () => {
  test('reads land on readers (both used), as gh_reader', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const res = await curl(viaProxy(), [...asApp, '--data-binary', 'SELECT name FROM gatehouse_meta.node']);
      expect(res.status).toBe(200);
      seen.add(res.body.trim());
    }
    expect([...seen].sort()).toEqual(['reader1', 'reader2']);
    const mk = marker('read');
    const who = await curl(viaProxy(), [...asApp, '--data-binary', `SELECT '${mk}', ${userOf(mk)}`]);
    expect(who.body.trim().split('\t')[1]).toBe('gh_reader');
  });

  test('writes land on the writer, as gh_writer', async () => {
    const mk = marker('write');
    const res = await curl(viaProxy(), [...asApp, '--data-binary', `INSERT INTO ht.who SELECT ${userOf(mk)} AS u FROM system.one WHERE '${mk}' != ''`]);
    expect(res.status).toBe(200);
    expect((await direct(cluster.writer, 'SELECT u FROM ht.who')).trim()).toBe('gh_writer');
    for (const r of cluster.readers) expect((await direct(r, 'SELECT count() FROM ht.who')).trim()).toBe('0');
  });

  test('proxy credentials as X-ClickHouse-User/Key, Basic auth and URL parameters; the client’s never reach the backend', async () => {
    const sql = 'SELECT name FROM gatehouse_meta.node';
    const headers = await curl(viaProxy(), ['-H', `X-ClickHouse-User: ${APP.name}`, '-H', `X-ClickHouse-Key: ${APP.password}`, '--data-binary', sql]);
    const basicAuth = await curl(viaProxy(), [...asApp, '--data-binary', sql]);
    const params = await curl(viaProxy(`?user=${APP.name}&password=${APP.password}`), ['--data-binary', sql]);
    for (const r of [headers, basicAuth, params]) {
      expect(r.status).toBe(200);
      expect(r.body).toMatch(/^reader[12]\n$/);
    }
  });

  test('a wrong password is refused as 18.16 refuses it: 401, code 193', async () => {
    const wrong = await curl(viaProxy(), ['-u', `${APP.name}:nope`, '--data-binary', 'SELECT 1']);
    const straight = await curl(viaNode(cluster.writer), ['-u', `${cluster.users.reader.name}:nope`, '--data-binary', 'SELECT 1']);
    expect(straight.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe(straight.headers['www-authenticate']);
    expect(wrong.headers['x-clickhouse-exception-code']).toBe('193');
    expect(wrong.body).toMatch(/^Code: 193, e\.displayText\(\) = DB::Exception: Gatehouse: .*, e\.what\(\) = DB::Exception\n$/);
    expect(wrong.body).not.toContain('nope');
    const none = await curl(viaProxy(), ['--data-binary', 'SELECT 1']);
    expect(none.status).toBe(401);
  });

  test('a user outside its networks: 195 with status 500, as 18.16 answers it', async () => {
    // 18.16 itself, for a user whose <networks> exclude the client (checked by hand against the sandbox's writer):
    // "HTTP/1.1 500", "Code: 195, e.displayText() = DB::Exception: User netuser is not allowed to connect from
    // address 127.0.0.1, e.what() = DB::Exception".
    const res = await curl(viaProxy(), ['-u', 'farnet:farnet_pw', '--data-binary', 'SELECT 1']);
    expect(res.status).toBe(500);
    expect(res.headers['x-clickhouse-exception-code']).toBe('195');
    expect(res.body).toMatch(/^Code: 195, e\.displayText\(\) = DB::Exception: Gatehouse: user farnet is not allowed to connect from 127\.0\.0\.1 \(networks\)/);
  });

  test("an answer given before the body was read leaves node:http's keep-alive timeout in place", async () => {
    // A read-only user's INSERT is refused before its body is read; node:http then drains the body. The body's receive
    // timer must not clear the keep-alive timer node:http set when the answer finished (5 s by default).
    const s = net.connect(gh.httpPort!, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const body = '1\tone\n';
    const auth = Buffer.from(`${VIEWER.name}:${VIEWER.password}`).toString('base64');
    s.write(
      `POST /?query=${encodeURIComponent('INSERT INTO ht.events FORMAT TSV')} HTTP/1.1\r\nHost: gatehouse\r\nAuthorization: Basic ${auth}\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`,
    );
    await new Promise((r) => setTimeout(r, 200));
    s.write(body);
    const t0 = Date.now();
    const closed = await new Promise<boolean>((resolve) => {
      s.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 15_000);
    });
    s.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 500 /);
    expect(answer).toContain('X-ClickHouse-Exception-Code: 164');
    expect(closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(12_000);
  }, 30_000);

  test('a read-only proxy user: reads run, writes are refused with 164', async () => {
    const asViewer = ['-u', `${VIEWER.name}:${VIEWER.password}`];
    const read = await curl(viaProxy(), [...asViewer, '--data-binary', 'SELECT 1']);
    expect(read.status).toBe(200);
    const write = await curl(viaProxy(), [...asViewer, '--data-binary', "INSERT INTO ht.events VALUES (9, 'nine')"]);
    expect(write.status).toBe(500);
    expect(write.headers['x-clickhouse-exception-code']).toBe('164');
    expect(write.body).toMatch(/^Code: 164, e\.displayText\(\) = DB::Exception: Gatehouse: user viewer is read-only/);
    const drop = await curl(viaProxy(`?query=${encodeURIComponent('DROP TABLE ht.events')}`), [...asViewer, '-X', 'POST']);
    expect(drop.status).toBe(500);
    expect(drop.headers['x-clickhouse-exception-code']).toBe('164');
  });

  test('session_id: a temporary table created in a session is there for the next request of the session', async () => {
    const s = `?session_id=${randomUUID()}`;
    const create = await curl(viaProxy(s), [...asApp, '--data-binary', 'CREATE TEMPORARY TABLE tmp_http (x UInt8)']);
    expect(create.status).toBe(200);
    const insert = await curl(viaProxy(s), [...asApp, '--data-binary', 'INSERT INTO tmp_http VALUES (1), (2)']);
    expect(insert.status).toBe(200);
    for (let i = 0; i < 4; i++) {
      const read = await curl(viaProxy(s), [...asApp, '--data-binary', 'SELECT count() FROM tmp_http']);
      expect(read.status).toBe(200);
      expect(read.body).toBe('2\n');
    }
  });

  test('HTTP queries are counted in /metrics', async () => {
    const text = await gh.metrics();
    expect(text).toMatch(/route="reader"/);
    expect(text).toMatch(/route="writer"/);
  });
});

describe('limits and pass-through', () => {
  const asLimited = ['-u', 'limited:limited_pw'];

  test('max_concurrent_queries per request: a second query while one runs gets 202', async () => {
    const slow = curl(viaProxy(), [...asLimited, '--data-binary', 'SELECT sleep(1)']);
    await new Promise((r) => setTimeout(r, 300));
    const refused = await curl(viaProxy(), [...asLimited, '--data-binary', 'SELECT 1']);
    expect(refused.status).toBe(500);
    expect(refused.headers['x-clickhouse-exception-code']).toBe('202');
    expect(refused.body).toMatch(/^Code: 202, e\.displayText\(\) = DB::Exception: Gatehouse: user limited has reached max_concurrent_queries/);
    expect((await slow).status).toBe(200);
    expect((await curl(viaProxy(), [...asLimited, '--data-binary', 'SELECT 1'])).body).toBe('1\n');
  });

  test("the user's query_timeout_ms: 159 before any byte of the answer", async () => {
    const res = await curl(viaProxy(), [...asLimited, '--data-binary', 'SELECT sleep(3)']);
    expect(res.status).toBe(500);
    expect(res.headers['x-clickhouse-exception-code']).toBe('159');
  });

  test("without proxy users, the client's own credentials pass through", async () => {
    const cfg = path.join(tmpDir, 'pass.yaml');
    fs.writeFileSync(cfg, [
      `writer: "127.0.0.1:${cluster.writer.tcpPort}"`,
      `readers: ["127.0.0.1:${cluster.readers[0].tcpPort}"]`,
      'http:',
      `  backend_ports: { writer: ${cluster.writer.httpPort}, reader1: ${cluster.readers[0].httpPort} }`,
    ].join('\n'));
    const pass = await startGatehouse(['--config', cfg, '--http', '127.0.0.1:0']);
    try {
      const url = `http://127.0.0.1:${pass.httpPort}/`;
      const mk = marker('pass');
      const ok = await curl(url, ['-u', `${cluster.users.writer.name}:${cluster.users.writer.password}`, '--data-binary', `SELECT '${mk}', ${userOf(mk)}`]);
      expect(ok.body).toBe(`${mk}\tgh_writer\n`);
      const wrong = await curl(url, ['-u', `${cluster.users.writer.name}:nope`, '--data-binary', 'SELECT 1']);
      const straight = await curl(viaNode(cluster.readers[0]), ['-u', `${cluster.users.writer.name}:nope`, '--data-binary', 'SELECT 1']);
      expect(wrong.status).toBe(401);
      expect(wrong.body).toBe(straight.body);
    } finally {
      await pass.stop();
    }
  });
});

describe('streaming', () => {
  test('a client that aborts a large streamed response leaves no query running on the backend', async () => {
    const queryId = marker('abort');
    const url = `/?query_id=${queryId}&query=${encodeURIComponent('SELECT number, toString(number) FROM system.numbers')}`;
    const received = await new Promise<number>((resolve, reject) => {
      const req = http.get(`http://127.0.0.1:${gh.httpPort}${url}`, { headers: { Authorization: basic(APP) } }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > 4 * 1024 * 1024) {
            req.destroy();
            resolve(n);
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
    });
    expect(received).toBeGreaterThan(4 * 1024 * 1024);
    const running = async () => {
      const all = await Promise.all(cluster.nodes.map((n) => direct(n, `SELECT count() FROM system.processes WHERE query_id = '${queryId}'`)));
      return all.reduce((s, x) => s + Number(x.trim()), 0);
    };
    const deadline = Date.now() + 10_000;
    let left = await running();
    while (left > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = await running();
    }
    expect(left).toBe(0);
  });
});

function basic(u: { name: string; password: string }): string {
  return `Basic ${Buffer.from(`${u.name}:${u.password}`).toString('base64')}`;
}

/** A GET to the proxy, the body as raw bytes (nothing decoded). */
function rawRequest(query: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${gh.httpPort}/${query}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}
