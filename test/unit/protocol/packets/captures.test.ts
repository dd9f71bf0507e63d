import * as fs from 'fs';
import * as path from 'path';
import { ClientCode, ServerCode } from '../../../../src/protocol/codes';
import { Reader } from '../../../../src/protocol/io/reader';
import { Writer } from '../../../../src/protocol/io/writer';
import {
  ClientHello,
  ClientPacket,
  ClientQuery,
  ServerException,
  ServerHello,
  ServerPacket,
  ServerProfileInfo,
  ServerProgress,
  decodeClientPacket,
  decodeServerPacket,
  encodeClientPacket,
  encodeServerPacket,
} from '../../../../src/protocol/packets';
import { DecodedLine, PyValue, parseDecodedTxt, parsePyLiteralAt, pyField, pyText } from './py-literal';

/**
 * Every non-block packet of every 18.16 capture is decoded at the offset given by its
 * decoded.txt, checked field by field against that independent decoding, and re-encoded
 * byte-identically. Data-like packets are decoded up to the block start.
 */

const ROOT = path.join(__dirname, '../../../fixtures/vectors/captures-18.16');
const NEGOTIATED = 54412; // every capture: server 54412 (README "Negotiated revision in every capture")
const DATA_KINDS = new Set(['Data', 'Totals', 'Extremes', 'Log']);

interface Conn {
  name: string;
  lines: DecodedLine[];
  c2s: Buffer;
  s2c: Buffer;
}

function loadConns(): Conn[] {
  const conns: Conn[] = [];
  for (const capture of fs.readdirSync(ROOT).filter((d) => !d.startsWith('_')).sort()) {
    const dir = path.join(ROOT, capture);
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.decoded.txt')).sort()) {
      const base = f.replace('.decoded.txt', '');
      conns.push({
        name: `${capture}/${base}`,
        lines: parseDecodedTxt(fs.readFileSync(path.join(dir, f), 'utf8')),
        c2s: fs.readFileSync(path.join(dir, `${base}.c2s.bin`)),
        s2c: fs.readFileSync(path.join(dir, `${base}.s2c.bin`)),
      });
    }
  }
  return conns;
}

const conns = loadConns();

/** End of the packet at `line`: the next packet's offset in the same direction, or the end of the file. */
function endOf(conn: Conn, line: DecodedLine): number {
  const same = conn.lines.filter((l) => l.dir === line.dir);
  const next = same[same.indexOf(line) + 1];
  return next ? next.offset : (line.dir === 'c2s' ? conn.c2s : conn.s2c).length;
}

function reencodeClient(p: ClientPacket): Buffer {
  const w = new Writer();
  encodeClientPacket(w, p, NEGOTIATED);
  return w.toBuffer();
}
function reencodeServer(p: ServerPacket): Buffer {
  const w = new Writer();
  encodeServerPacket(w, p, NEGOTIATED);
  return w.toBuffer();
}

const num = (v: PyValue): number => v as number;

function checkClientInfo(q: ClientQuery, ci: { [k: string]: PyValue }): void {
  const info = q.clientInfo;
  expect(info).toBeDefined();
  expect(info).toEqual({
    queryKind: num(ci.query_kind),
    initialUser: pyText(ci.initial_user),
    initialQueryId: pyText(ci.initial_query_id),
    initialAddress: pyText(ci.initial_address),
    interface: num(ci.interface),
    tcp: {
      osUser: pyText(ci.os_user),
      clientHostname: pyText(ci.client_hostname),
      clientName: pyText(ci.client_name),
      clientVersionMajor: num(ci.client_version_major),
      clientVersionMinor: num(ci.client_version_minor),
      clientTcpProtocolVersion: num(ci.client_tcp_protocol_version),
      clientVersionPatch: num(ci.client_version_patch),
    },
    quotaKey: pyText(ci.quota_key),
  });
}

function checkClientLine(conn: Conn, line: DecodedLine, p: ClientPacket): void {
  const text = `c2s @${line.offset} ${line.kind}${line.rest}`;
  switch (line.kind) {
    case 'Hello': {
      const m = /client=(b'.*?') (\d+)\.(\d+) rev=(\d+) /.exec(text)!;
      const h = p as ClientHello;
      expect(h.code).toBe(ClientCode.Hello);
      expect(h.clientName).toBe(pyText(parsePyLiteralAt(m[1], 0)[0]));
      expect([h.versionMajor, h.versionMinor, h.revision]).toEqual([Number(m[2]), Number(m[3]), Number(m[4])]);
      expect(h.database).toBe(pyText(pyField(text, 'db')));
      expect(h.user).toBe(pyText(pyField(text, 'user')));
      expect(h.password).toBe(pyText(pyField(text, 'password')));
      break;
    }
    case 'Query': {
      const q = p as ClientQuery;
      expect(q.code).toBe(ClientCode.Query);
      expect(q.queryId).toBe(pyText(pyField(text, 'id')));
      checkClientInfo(q, pyField(text, 'client_info') as { [k: string]: PyValue });
      const settings = pyField(text, 'settings') as PyValue[][];
      expect(q.settings).toEqual(
        settings.map(([name, kind, value]) => ({
          name: pyText(name),
          value: kind === 'str' ? pyText(value) : String(value),
          flags: 0,
        })),
      );
      expect(q.stage).toBe(pyField(text, 'stage'));
      expect(q.compression).toBe(pyField(text, 'compression') === 1);
      // decoded.txt shortens long query texts to their first 200 bytes
      const shown = pyText(pyField(text, 'query'));
      expect(q.query.startsWith(shown)).toBe(true);
      if (Buffer.byteLength(shown) < 200) expect(q.query).toBe(shown);
      expect(endOf(conn, line) - line.offset).toBe(Number(/\((\d+) bytes\)$/.exec(text)![1]));
      expect(pyField(text, 'params')).toBeNull();
      expect(q.parameters).toBeUndefined(); // 54412 < 54459
      expect(q.interserverSecretHash).toBeUndefined(); // 54412 < 54441
      break;
    }
    case 'Ping':
      expect(p.code).toBe(ClientCode.Ping);
      break;
    case 'Cancel':
      expect(p.code).toBe(ClientCode.Cancel);
      break;
    case 'Data':
      expect(p).toEqual({ code: ClientCode.Data, tableName: pyText(pyField(text, 'table')), blockOffset: expect.any(Number) });
      break;
    default:
      throw new Error(`unexpected client packet kind ${line.kind} in ${conn.name}`);
  }
}

function checkServerLine(conn: Conn, line: DecodedLine, p: ServerPacket): void {
  const text = `s2c @${line.offset} ${line.kind}${line.rest}`;
  switch (line.kind) {
    case 'Hello': {
      const m = /server=(b'.*?') (\d+)\.(\d+) rev=(\d+) /.exec(text)!;
      const extra = parsePyLiteralAt(text, text.indexOf('{'))[0] as { [k: string]: PyValue };
      expect(p).toEqual<ServerHello>({
        code: ServerCode.Hello,
        serverName: pyText(parsePyLiteralAt(m[1], 0)[0]),
        versionMajor: Number(m[2]),
        versionMinor: Number(m[3]),
        revision: Number(m[4]),
        timezone: pyText(extra.timezone),
        displayName: pyText(extra.display_name),
        versionPatch: num(extra.version_patch),
      });
      break;
    }
    case 'Exception': {
      const list = parsePyLiteralAt(text, text.indexOf('['))[0] as PyValue[][];
      const e = p as ServerException;
      expect(e.code).toBe(ServerCode.Exception);
      expect(e.exceptions.map((x) => [x.code, x.name, x.message, Buffer.byteLength(x.stackTrace)])).toEqual(
        list.map(([code, name, message, stackLen]) => [code, pyText(name), pyText(message), stackLen]),
      );
      break;
    }
    case 'Progress': {
      const [readRows, readBytes, totalRowsToRead] = parsePyLiteralAt(text, text.indexOf('['))[0] as number[];
      expect(p).toEqual<ServerProgress>({ code: ServerCode.Progress, readRows, readBytes, totalRowsToRead });
      break;
    }
    case 'ProfileInfo': {
      const [rows, blocks, bytes, appliedLimit, rowsBeforeLimit, calc] = parsePyLiteralAt(text, text.indexOf('=[') + 1)[0] as number[];
      expect(p).toEqual<ServerProfileInfo>({
        code: ServerCode.ProfileInfo,
        rows,
        blocks,
        bytes,
        appliedLimit: appliedLimit === 1,
        rowsBeforeLimit,
        calculatedRowsBeforeLimit: calc === 1,
      });
      break;
    }
    case 'Pong':
      expect(p.code).toBe(ServerCode.Pong);
      break;
    case 'EndOfStream':
      expect(p.code).toBe(ServerCode.EndOfStream);
      break;
    default:
      if (!DATA_KINDS.has(line.kind)) throw new Error(`unexpected server packet kind ${line.kind} in ${conn.name}`);
      expect(p).toEqual({
        code: ServerCode[line.kind as 'Data' | 'Totals' | 'Extremes' | 'Log'],
        // Log lines do not show the name: it is always empty (TCPHandler::sendLogs)
        tableName: text.includes(' table=') ? pyText(pyField(text, 'table')) : '',
        blockOffset: expect.any(Number),
      });
  }
}

describe('18.16 captures: every non-block packet decodes as decoded.txt says and re-encodes byte-identically', () => {
  it('finds the captures', () => {
    expect(conns.length).toBeGreaterThanOrEqual(21);
  });

  for (const conn of conns) {
    it(conn.name, () => {
      let nonBlock = 0;
      for (const line of conn.lines) {
        const bytes = line.dir === 'c2s' ? conn.c2s : conn.s2c;
        const end = endOf(conn, line);
        const r = new Reader(bytes, line.offset, end);
        if (line.dir === 'c2s') {
          const p = decodeClientPacket(r, NEGOTIATED);
          checkClientLine(conn, line, p);
          if (line.kind === 'Data') {
            expect(r.pos).toBe((p as { blockOffset: number }).blockOffset);
            expect(reencodeClient(p)).toEqual(bytes.subarray(line.offset, r.pos));
            continue;
          }
          expect(r.pos).toBe(end); // consumed exactly the packet
          expect(reencodeClient(p)).toEqual(bytes.subarray(line.offset, end));
        } else {
          const p = decodeServerPacket(r, NEGOTIATED);
          checkServerLine(conn, line, p);
          if (DATA_KINDS.has(line.kind)) {
            expect(reencodeServer(p)).toEqual(bytes.subarray(line.offset, r.pos));
            continue;
          }
          expect(r.pos).toBe(end);
          expect(reencodeServer(p)).toEqual(bytes.subarray(line.offset, end));
        }
        nonBlock++;
      }
      expect(nonBlock).toBeGreaterThan(0);
    });
  }

  const find = (name: string, dir: 'c2s' | 's2c', kind: string): { p: ClientPacket | ServerPacket; line: DecodedLine } => {
    const conn = conns.find((c) => c.name === name)!;
    const line = conn.lines.find((l) => l.dir === dir && l.kind === kind)!;
    const r = new Reader(dir === 'c2s' ? conn.c2s : conn.s2c, line.offset);
    return { p: dir === 'c2s' ? decodeClientPacket(r, NEGOTIATED) : decodeServerPacket(r, NEGOTIATED), line };
  };

  it('cli_lz4_settings_legacy_binary: legacy binary settings with the exact captured values', () => {
    const { p } = find('cli_lz4_settings_legacy_binary/conn1', 'c2s', 'Query');
    const q = p as ClientQuery;
    expect(q.queryId).toBe('my-query-id-1');
    expect(q.settings).toEqual([
      { name: 'max_block_size', value: '5', flags: 0 },
      { name: 'max_threads', value: '2', flags: 0 },
      { name: 'connect_timeout_with_failover_ms', value: '77', flags: 0 },
      { name: 'extremes', value: '1', flags: 0 },
      { name: 'load_balancing', value: 'random', flags: 0 },
      { name: 'totals_auto_threshold', value: '0.3', flags: 0 },
      { name: 'max_execution_time', value: '100', flags: 0 },
    ]);
    expect(q.query).toBe('SELECT number FROM numbers(12)');
    expect(q.compression).toBe(true);
  });

  it('py_ping_select: the Python driver (revision 54453) sends legacy settings at negotiated 54412', () => {
    const conn = conns.find((c) => c.name === 'py_ping_select/conn1')!;
    const hello = decodeClientPacket(new Reader(conn.c2s, 0), NEGOTIATED) as ClientHello;
    expect(hello.clientName).toBe('ClickHouse python-driver');
    expect(hello.revision).toBe(54453);
    const queries = conn.lines.filter((l) => l.dir === 'c2s' && l.kind === 'Query');
    const q2 = decodeClientPacket(new Reader(conn.c2s, queries[1].offset), NEGOTIATED) as ClientQuery;
    expect(q2.queryId).toBe('py-query-2');
    expect(q2.settings).toEqual([
      { name: 'max_block_size', value: '100', flags: 0 },
      { name: 'send_logs_level', value: 'none', flags: 0 },
    ]);
    expect(q2.clientInfo).toMatchObject({ tcp: { clientName: 'ClickHouse python-driver', clientTcpProtocolVersion: 54453 } });
  });

  it('cli_lz4_exception_unknown_table: Exception 60 with a 3211-byte stack trace', () => {
    const { p } = find('cli_lz4_exception_unknown_table/conn1', 's2c', 'Exception');
    const e = p as ServerException;
    expect(e.exceptions).toHaveLength(1);
    expect(e.exceptions[0].code).toBe(60);
    expect(e.exceptions[0].message).toBe("DB::Exception: Table default.no_such_table doesn't exist.");
    expect(Buffer.byteLength(e.exceptions[0].stackTrace)).toBe(3211);
  });

  it('cli_lz4_exception_midstream: Exception 395 after Data packets', () => {
    const { p } = find('cli_lz4_exception_midstream/conn1', 's2c', 'Exception');
    expect((p as ServerException).exceptions[0].code).toBe(395);
  });
});
