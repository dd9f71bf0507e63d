import * as fs from 'fs';
import * as path from 'path';
import { ClientCode, ServerCode } from '../../../../src/protocol/codes';
import { Reader } from '../../../../src/protocol/io/reader';
import { Writer } from '../../../../src/protocol/io/writer';
import {
  ClientPacket,
  ServerPacket,
  decodeClientInfo,
  decodeClientPacket,
  decodeException,
  decodeProgress,
  decodeServerPacket,
  encodeClientInfo,
  encodeClientPacket,
  encodeException,
  encodeProgress,
  encodeServerPacket,
} from '../../../../src/protocol/packets';

/** ch-go golden files (test/fixtures/vectors/ch-go/README.md): decode, check, re-encode byte-identically. */

const GOLDEN = path.join(__dirname, '../../../fixtures/vectors/ch-go/proto/_golden');
const golden = (name: string): Buffer => fs.readFileSync(path.join(GOLDEN, `${name}.raw`));

function encoded(f: (w: Writer) => void): Buffer {
  const w = new Writer();
  f(w);
  return w.toBuffer();
}

/** Decodes the whole buffer (nothing may be left) and re-encodes it. */
function clientPacket(name: string, rev: number): ClientPacket {
  const bytes = golden(name);
  const r = new Reader(bytes);
  const p = decodeClientPacket(r, rev);
  expect(r.pos).toBe(bytes.length);
  expect(encoded((w) => encodeClientPacket(w, p, rev))).toEqual(bytes);
  return p;
}
function serverPacket(name: string, rev: number): ServerPacket {
  const bytes = golden(name);
  const r = new Reader(bytes);
  const p = decodeServerPacket(r, rev);
  expect(r.pos).toBe(bytes.length);
  expect(encoded((w) => encodeServerPacket(w, p, rev))).toEqual(bytes);
  return p;
}

const chgoClientInfo = {
  queryKind: 1,
  initialUser: '',
  initialQueryId: '23ad2c07-2f68-4005-9bac-da8f467bdd3b',
  initialAddress: '0.0.0.0:0',
  initialQueryStartTimeMicroseconds: 0n,
  interface: 1,
  tcp: {
    osUser: 'ernado',
    clientHostname: 'nexus',
    clientName: 'ClickHouse ',
    clientVersionMajor: 21,
    clientVersionMinor: 11,
    clientTcpProtocolVersion: 54450,
    clientVersionPatch: 4,
  },
  quotaKey: '',
  distributedDepth: 0,
  openTelemetry: null,
};

describe('ch-go goldens', () => {
  it('client_hello (a8 c0 02 = revision 41000; the vectors README says 40999, the bytes say 41000)', () => {
    expect(clientPacket('client_hello', 54460)).toEqual({
      code: ClientCode.Hello,
      clientName: 'ch',
      versionMajor: 1,
      versionMinor: 1,
      revision: 41000,
      database: 'github',
      user: 'neo',
      password: '',
    });
  });

  it('client_info at 54450', () => {
    const bytes = golden('client_info');
    const r = new Reader(bytes);
    const info = decodeClientInfo(r, 54450);
    expect(r.pos).toBe(bytes.length);
    expect(info).toEqual(chgoClientInfo);
    expect(encoded((w) => encodeClientInfo(w, info, 54450))).toEqual(bytes);
  });

  it('client_info_otel at 54460 (trace id bytes 1..16, span id bytes 1..8)', () => {
    const bytes = golden('client_info_otel');
    const r = new Reader(bytes);
    const info = decodeClientInfo(r, 54460);
    expect(r.pos).toBe(bytes.length);
    expect(info).toMatchObject({
      initialQueryId: '40c268ad-de50-434d-a391-800da9aa70c3',
      tcp: { osUser: 'user', clientHostname: 'hostname', clientName: 'Name', clientTcpProtocolVersion: 54429 },
      openTelemetry: {
        traceId: '01020304-0506-0708-090a-0b0c0d0e0f10',
        spanId: 0x0102030405060708n,
        traceState: '',
        traceFlags: 0,
      },
      parallelReplicas: { collaborateWithInitiator: 0, countParticipatingReplicas: 0, numberOfCurrentReplica: 0 },
    });
    expect(encoded((w) => encodeClientInfo(w, info, 54460))).toEqual(bytes);
  });

  it('query_create_db at 54450 (originally captured from a 21.11 client)', () => {
    expect(clientPacket('query_create_db', 54450)).toEqual({
      code: ClientCode.Query,
      queryId: '23ad2c07-2f68-4005-9bac-da8f467bdd3b',
      clientInfo: chgoClientInfo,
      settings: [],
      interserverSecretHash: Buffer.alloc(0),
      stage: 2,
      compression: false,
      query: 'CREATE DATABASE test;',
    });
  });

  it('query_otel at 54460', () => {
    const q = clientPacket('query_otel', 54460);
    expect(q).toMatchObject({
      code: ClientCode.Query,
      queryId: 'a7e4c890-df21-4cea-b4a1-9b868e514366',
      clientInfo: {
        initialUser: 'neo',
        initialAddress: '1.1.1.1:1448',
        tcp: { osUser: 'agent', clientHostname: 'nexus', clientName: 'Matrix' },
        quotaKey: 'u-97dc',
        openTelemetry: { traceId: '01020304-0000-0000-0000-000000000000', traceFlags: 1 },
      },
      settings: [],
      interserverSecretHash: Buffer.from('secret'),
      stage: 2,
      compression: true,
      query: 'CREATE DATABASE test;',
      parameters: [],
    });
  });

  it('progress at 54460', () => {
    const bytes = golden('progress');
    const r = new Reader(bytes);
    const p = decodeProgress(r, 54460);
    expect(r.pos).toBe(bytes.length);
    expect(p).toEqual({
      code: ServerCode.Progress,
      readRows: 100,
      readBytes: 608120,
      totalRowsToRead: 1000,
      writtenRows: 441,
      writtenBytes: 91023,
      elapsedNs: 0,
    });
    expect(encoded((w) => encodeProgress(w, p, 54460))).toEqual(bytes);
  });

  it('type/ServerHello at 54460', () => {
    expect(serverPacket('type/ServerHello', 54460)).toEqual({
      code: ServerCode.Hello,
      serverName: 'ClickHouse server',
      versionMajor: 21,
      versionMinor: 11,
      revision: 54450,
      timezone: 'Europe/Moscow',
      displayName: 'alpha',
      versionPatch: 3,
    });
  });

  it('type/Exception (body without packet code)', () => {
    const bytes = golden('type/Exception');
    const r = new Reader(bytes);
    const e = decodeException(r, 54460);
    expect(r.pos).toBe(bytes.length);
    expect(e.exceptions).toHaveLength(1);
    expect(e.exceptions[0]).toMatchObject({ code: 60, name: 'DB::Exception', message: "DB::Exception: Table default._3_ doesn't exist" });
    expect(e.exceptions[0].stackTrace.startsWith('0. DB::Exception::Exception(')).toBe(true);
    expect(encoded((w) => encodeException(w, e, 54460))).toEqual(bytes);
  });

  it('type/Profile at 54460', () => {
    expect(serverPacket('type/Profile', 54460)).toEqual({
      code: ServerCode.ProfileInfo,
      rows: 1234,
      blocks: 235123,
      bytes: 424,
      appliedLimit: true,
      rowsBeforeLimit: 2341,
      calculatedRowsBeforeLimit: false,
    });
  });

  it('type/TableColumns at 54460', () => {
    expect(serverPacket('type/TableColumns', 54460)).toEqual({
      code: ServerCode.TableColumns,
      tableName: '',
      columns: 'columns format version: 1\n1 columns:\n`id` UInt8\n',
    });
  });
});
