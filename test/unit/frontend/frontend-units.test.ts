import { createHash } from 'node:crypto';
import { authenticate } from '../../../src/frontend/auth';
import { exceptionPacket } from '../../../src/frontend/error-reply';
import { mergeSettings, rewriteQuery } from '../../../src/frontend/query-rewrite';
import { ClientCode, decodeClientPacket, decodeServerPacket, Reader, ServerException, ClientQuery } from '../../../src/protocol';

describe('authenticate', () => {
  const users = [
    { name: 'app', password: 'secret', readonly: false },
    { name: 'ro', passwordSha256Hex: createHash('sha256').update('pw').digest('hex'), readonly: true },
  ];
  it('accepts the right plain or hashed password and nothing else', () => {
    expect(authenticate(users, 'app', 'secret')?.name).toBe('app');
    expect(authenticate(users, 'ro', 'pw')?.readonly).toBe(true);
    expect(authenticate(users, 'app', 'secret ')).toBeNull();
    expect(authenticate(users, 'app', '')).toBeNull();
    expect(authenticate(users, 'nobody', 'secret')).toBeNull();
    expect(authenticate(users, 'ro', createHash('sha256').update('pw').digest('hex'))).toBeNull();
  });
});

describe('exceptionPacket', () => {
  it('is a well-formed Exception naming the proxy, with the ClickHouse code', () => {
    const bytes = exceptionPacket({ chCode: 202, message: 'no connection available' });
    const p = decodeServerPacket(new Reader(bytes), 54412) as ServerException;
    expect(p.exceptions).toEqual([
      { code: 202, name: 'DB::Exception', message: 'DB::Exception: Gatehouse: no connection available', stackTrace: '' },
    ]);
  });
  it('never leaks an unknown error as anything but an internal error with code 1002', () => {
    const p = decodeServerPacket(new Reader(exceptionPacket(new TypeError('boom'))), 54412) as ServerException;
    expect(p.exceptions[0].code).toBe(1002);
    expect(p.exceptions[0].message).toContain('internal error: boom');
  });
});

describe('session settings merged into a Query', () => {
  it('puts session SETs first and lets the query\'s own settings win', () => {
    const session = new Map([['max_threads', '2'], ['max_block_size', '100']]);
    expect(mergeSettings(session, [{ name: 'max_block_size', value: '5', flags: 0 }])).toEqual([
      { name: 'max_threads', value: '2', flags: 0 },
      { name: 'max_block_size', value: '5', flags: 0 },
    ]);
  });

  it.each([54412, 54429, 54460])('re-encodes the Query with the merged settings at revision %i', (rev) => {
    const q: ClientQuery = {
      code: ClientCode.Query,
      queryId: 'q1',
      clientInfo: { queryKind: 0 },
      settings: [],
      stage: 2,
      compression: true,
      query: 'SELECT 1',
      ...(rev >= 54459 ? { parameters: [] } : {}),
      ...(rev >= 54441 ? { interserverSecretHash: Buffer.alloc(0) } : {}),
    };
    const merged = mergeSettings(new Map([['max_threads', '3']]), q.settings);
    const back = decodeClientPacket(new Reader(rewriteQuery(q, merged, rev)), rev) as ClientQuery;
    expect(back.settings.map((s) => [s.name, s.value])).toEqual([['max_threads', '3']]);
    expect(back.query).toBe('SELECT 1');
    expect(back.compression).toBe(true);
  });
});
