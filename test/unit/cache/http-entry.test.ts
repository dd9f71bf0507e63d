import { bodyEndsWithException, decodeEntry, encodeEntry, httpCacheKey, makeHttpEntry, readHttpEntry } from '../../../src/cache';

const base = { sql: 'SELECT 1', normalizedSql: 'SELECT 1', database: 'default', readIdentity: 'default\u0000gh_reader', acceptEncoding: '' };
const key = (params: Record<string, string>, over: Partial<typeof base> = {}) => httpCacheKey({ ...base, ...over, params: new URLSearchParams(params) });

describe('HTTP cache entries', () => {
  it('round-trip headers and body through the binary entry format', () => {
    const e = makeHttpEntry({ headers: [['content-type', 'text/tab-separated-values; charset=UTF-8']], body: [Buffer.from('1\n'), Buffer.from('2\n')], tables: ['default.t', '*'], ttlMs: 1000 });
    const back = readHttpEntry(decodeEntry(encodeEntry(e)));
    expect(back.headers).toEqual([['content-type', 'text/tab-separated-values; charset=UTF-8']]);
    expect(back.body.toString()).toBe('1\n2\n');
    expect(decodeEntry(encodeEntry(e)).tables).toEqual(['default.t', '*']);
  });

  it('rejects an entry that is not an HTTP one', () => {
    const e = makeHttpEntry({ headers: [], body: [Buffer.from('x')], tables: [], ttlMs: 1 });
    expect(() => readHttpEntry({ ...e, revision: 54412 })).toThrow(/not an HTTP entry/);
    const bad = Buffer.from(e.packets);
    bad.writeUInt32LE(9999, 0);
    expect(() => readHttpEntry({ ...e, packets: bad })).toThrow(/truncated/);
  });

  it('keys on what changes the bytes: settings, formats, parameters, encoding; not on per-request ids or credentials', () => {
    const k0 = key({});
    expect(key({ query_id: 'q1', session_id: 's', user: 'u', password: 'p', database: 'x' })).toBe(k0);
    expect(key({ default_format: 'JSONEachRow' })).not.toBe(k0);
    expect(key({ max_result_rows: '10' })).not.toBe(k0);
    expect(key({ param_id: '1' })).not.toBe(key({ param_id: '2' }));
    expect(key({}, { acceptEncoding: 'gzip' })).not.toBe(k0);
    expect(key({ enable_http_compression: '1' })).not.toBe(k0);
    expect(key({}, { database: 'other' })).not.toBe(k0);
    expect(key({}, { readIdentity: 'default\u0000someone' })).not.toBe(k0);
  });

  it('recognises a body that ends with an exception ClickHouse wrote after the status', () => {
    expect(bodyEndsWithException(Buffer.from('1\n2\nCode: 395, e.displayText() = DB::Exception: Value passed to \'throwIf\' function is non zero, e.what() = DB::Exception\n'))).toBe(true);
    expect(bodyEndsWithException(Buffer.from('1\n2\n'))).toBe(false);
    expect(bodyEndsWithException(Buffer.from('Code: 60 is a row\n3\n'))).toBe(false);
  });
});
