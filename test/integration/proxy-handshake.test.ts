/**
 * Issue 3: the proxy's own handshake, for clients at revisions no real client here has, and the
 * rule that bad client input gets an Exception or a clean close and harms no one else.
 */
import { connect } from 'node:net';
import { ServerCode, ServerException, ServerHello } from '../../src/protocol';
import { query, startSandboxCluster, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { NativeClient } from '../helpers/native-client';

describe('proxy handshake and hostile clients', () => {
  let cluster: SandboxCluster;
  let gh: Gatehouse;

  beforeAll(async () => {
    cluster = await startSandboxCluster();
    const { reader, writer } = cluster.users;
    gh = await startGatehouse([
      '--writer', `127.0.0.1:${cluster.writer.tcpPort}`,
      '--reader', `127.0.0.1:${cluster.readers[0].tcpPort}`,
      '--user', 'app:secret',
      '--read-user', `${reader.name}:${reader.password}`,
      '--write-user', `${writer.name}:${writer.password}`,
    ]);
  });
  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
  });

  it.each([
    ['18.16 clickhouse-client', 54412, 54412],
    ['Python driver 0.2.5', 54453, 54412],
    ['a client at 54460 (addendum)', 54460, 54412],
    ['a client above PROXY_MAX_REVISION', 54492, 54412],
  ])('%s (revision %i) negotiates %i and runs a query', async (_label, clientRev, negotiated) => {
    const c = await NativeClient.open(gh.port);
    c.hello(clientRev, 'app', 'secret');
    const hello = await c.next();
    expect(hello!.code).toBe(ServerCode.Hello);
    const h = hello!.packet as ServerHello;
    // The backend class's identity, revision capped by the backend (18.16) and PROXY_MAX_REVISION.
    expect(h).toMatchObject({ serverName: 'ClickHouse', versionMajor: 18, versionMinor: 16, revision: 54412, timezone: 'Etc/UTC', displayName: 'writer' });
    expect(c.state.revision).toBe(negotiated);
    c.addendumIfNeeded();
    c.query('SELECT name FROM gatehouse_meta.node');
    const packets = await c.untilEnd();
    expect(packets[packets.length - 1].code).toBe(ServerCode.EndOfStream);
    expect(packets.filter((p) => p.code === ServerCode.Data).reduce((n, p) => n + p.block!.rows, 0)).toBe(1);
    c.close();
  });

  it('a wrong password gets Exception 516, then the connection closes', async () => {
    const c = await NativeClient.open(gh.port);
    c.hello(54412, 'app', 'wrong');
    const p = await c.next();
    expect(p!.code).toBe(ServerCode.Exception);
    expect((p!.packet as ServerException).exceptions[0]).toMatchObject({ code: 516 });
    expect((p!.packet as ServerException).exceptions[0].message).toContain('Gatehouse');
    expect((p!.packet as ServerException).exceptions[0].message).not.toContain('wrong');
    expect(await c.next()).toBeNull();
  });

  it('a client below the lowest supported revision gets an Exception, not a desync', async () => {
    const c = await NativeClient.open(gh.port);
    c.hello(54300, 'app', 'secret');
    const p = await c.next();
    expect(p!.code).toBe(ServerCode.Exception);
    expect((p!.packet as ServerException).exceptions[0].message).toContain('54300');
    expect(await c.next()).toBeNull();
  });

  it.each([
    ['an HTTP request on the native port', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['an unknown packet code', Buffer.from([0x63, 0x01, 0x02])],
    ['an over-long VarUInt', Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])],
    ['a Hello string longer than the Hello limit', Buffer.concat([Buffer.from([0x00, 0xff, 0xff, 0x03]), Buffer.alloc(70000, 0x41)])],
  ])('%s closes that client only; others keep working', async (_label, bytes) => {
    const closed = await new Promise<{ bytes: Buffer }>((resolve) => {
      const s = connect(gh.port, '127.0.0.1', () => s.write(bytes));
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('error', () => undefined);
      const guard = setTimeout(() => s.destroy(), 10_000);
      s.on('close', () => {
        clearTimeout(guard);
        resolve({ bytes: Buffer.concat(got) });
      });
    });
    // Either an Exception packet (code 2) then close, or a clean close with nothing sent.
    expect(closed.bytes.length === 0 || closed.bytes[0] === ServerCode.Exception).toBe(true);
    const c = await NativeClient.open(gh.port);
    c.hello(54412, 'app', 'secret');
    expect((await c.next())!.code).toBe(ServerCode.Hello);
    c.query('SELECT 1');
    expect((await c.untilEnd()).pop()!.code).toBe(ServerCode.EndOfStream);
    c.close();
  });

  it('a Data packet outside any query closes that client with Exception 101', async () => {
    const c = await NativeClient.open(gh.port);
    c.hello(54412, 'app', 'secret');
    await c.next();
    // Data, table name '', an empty block at 54412.
    c.send(Buffer.from([0x02, 0x00, 0x01, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00]));
    const p = await c.next();
    expect((p!.packet as ServerException).exceptions[0].code).toBe(101);
    expect(await c.next()).toBeNull();
  });

  it('Ping is answered locally before and after queries; the proxy still serves clickhouse-client', async () => {
    const c = await NativeClient.open(gh.port);
    c.hello(54412, 'app', 'secret');
    await c.next();
    c.send(Buffer.from([0x04]));
    expect((await c.next())!.code).toBe(ServerCode.Pong);
    c.query('SELECT 1');
    await c.untilEnd();
    c.send(Buffer.from([0x04, 0x04]));
    expect((await c.next())!.code).toBe(ServerCode.Pong);
    expect((await c.next())!.code).toBe(ServerCode.Pong);
    c.close();
    expect(await query(gh.port, 'SELECT 1', { name: 'app', password: 'secret' })).toBe('1\n');
  });
});
