/** Pure parts of src/pool: key strings, sizing, max_threads parsing, errors, the proxy's own Query bytes. */
import {
  BackendHandshakeError,
  BackendProtocolError,
  BackendUnavailableError,
  FALLBACK_CORES,
  PoolTimeoutError,
  ProxyError,
  encodeSimpleQuery,
  maxSizeForCores,
  parseMaxThreads,
  poolKeyString,
  type PoolKey,
} from '../../../src/pool';
import { ClientCode, Reader, ServerCode, decodeBlock, decodeClientPacket, type ClientQuery } from '../../../src/protocol';

const KEY: PoolKey = {
  target: { name: 'writer', host: '127.0.0.1', port: 9000 },
  identity: { user: 'gh_writer', password: 'hunter2-secret' },
  database: 'default',
  revision: 54412,
};

describe('poolKeyString', () => {
  test('names target, user, database and revision, never the password', () => {
    const s = poolKeyString(KEY);
    expect(s).toMatch(/^writer=127\.0\.0\.1:9000\|gh_writer#[0-9a-f]{16}\|db=default\|rev=54412$/);
    expect(s).not.toContain('hunter2');
  });

  test('equal keys give equal strings; each field distinguishes', () => {
    expect(poolKeyString({ ...KEY })).toBe(poolKeyString(KEY));
    const variants: PoolKey[] = [
      { ...KEY, identity: { ...KEY.identity, password: 'other' } },
      { ...KEY, identity: { ...KEY.identity, user: 'gh_reader' } },
      { ...KEY, database: 'analytics' },
      { ...KEY, revision: 54460 },
      { ...KEY, target: { ...KEY.target, port: 9001 } },
      { ...KEY, target: { ...KEY.target, name: 'reader1' } },
    ];
    const all = new Set([poolKeyString(KEY), ...variants.map(poolKeyString)]);
    expect(all.size).toBe(variants.length + 1);
  });

  test('separators inside names cannot make two keys collide', () => {
    const a = poolKeyString({ ...KEY, identity: { user: 'a|db=x', password: '' }, database: 'y' });
    const b = poolKeyString({ ...KEY, identity: { user: 'a', password: '' }, database: 'x|db=y' });
    expect(a).not.toBe(b);
    const c = poolKeyString({ ...KEY, target: { ...KEY.target, name: 'w=1.2.3.4:5|' } });
    expect(c).not.toContain('w=1.2.3.4:5|');
  });
});

describe('sizing', () => {
  test('max_threads as printed by 18.16 and by later versions', () => {
    expect(parseMaxThreads('2')).toBe(2); // 18.16.1 on this machine
    expect(parseMaxThreads('auto(8)')).toBe(8);
    expect(parseMaxThreads("'auto(16)'")).toBe(16);
    expect(parseMaxThreads('auto')).toBeNull();
    expect(parseMaxThreads('0')).toBeNull();
  });

  test('(cores * 2) + 1, fallback 4 cores', () => {
    expect(maxSizeForCores(2)).toBe(5);
    expect(maxSizeForCores(FALLBACK_CORES)).toBe(9);
    expect(maxSizeForCores(0)).toBe(3);
  });
});

describe('errors', () => {
  test('codes, ClickHouse numbers and retriability', () => {
    const unavailable = new BackendUnavailableError('x');
    expect(unavailable).toBeInstanceOf(ProxyError);
    expect(unavailable).toMatchObject({ code: 'ERR_BACKEND_UNAVAILABLE', chCode: 210, retriable: true });
    expect(new BackendProtocolError('x')).toMatchObject({ code: 'ERR_BACKEND_PROTOCOL', chCode: 102, retriable: false });
    expect(new BackendProtocolError('x', 40)).toMatchObject({ chCode: 40 });
  });

  test('PoolTimeoutError names the pool', () => {
    const e = new PoolTimeoutError('writer (127.0.0.1:9000) as gh_writer', 5000, 5);
    expect(e.message).toBe(
      'Gatehouse: no connection to writer (127.0.0.1:9000) as gh_writer available within 5000 ms (pool max 5)',
    );
    expect(e).toMatchObject({ code: 'ERR_POOL_TIMEOUT', chCode: 202, retriable: true, waitTimeoutMs: 5000, maxSize: 5 });
  });

  test('BackendHandshakeError takes the server exception code', () => {
    const e = new BackendHandshakeError('writer (h:1) as u', {
      code: ServerCode.Exception,
      exceptions: [{ code: 193, name: 'DB::Exception', message: 'Wrong password for user u', stackTrace: '' }],
    });
    expect(e).toMatchObject({ chCode: 193, code: 'ERR_BACKEND_HANDSHAKE' });
    expect(e.message).toBe('Gatehouse: backend writer (h:1) as u refused the handshake: Wrong password for user u');
  });
});

describe('encodeSimpleQuery', () => {
  test.each([54406, 54412, 54429, 54460])('Query + empty Data block decode back at revision %i', (rev) => {
    const settings = [{ name: 'max_block_size', value: '1000', flags: 0 }];
    const bytes = encodeSimpleQuery('SELECT 1', rev, settings, 'qid');
    const r = new Reader(bytes);
    const q = decodeClientPacket(r, rev) as ClientQuery;
    expect(q).toMatchObject({ code: ClientCode.Query, queryId: 'qid', query: 'SELECT 1', compression: false, stage: 2 });
    expect(q.settings.map((s) => [s.name, s.value])).toEqual([['max_block_size', '1000']]);
    expect(r.varUInt()).toBe(ClientCode.Data);
    expect(r.string()).toBe('');
    expect(decodeBlock(r, rev)).toMatchObject({ rows: 0, columns: [] });
    expect(r.pos).toBe(bytes.length);
  });
});
