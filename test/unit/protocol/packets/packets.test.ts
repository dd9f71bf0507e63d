import { ClientCode, ServerCode } from '../../../../src/protocol/codes';
import {
  LimitError,
  MalformedError,
  NEED_MORE_DATA,
  UnknownPacketError,
  UnknownSettingError,
  UnsupportedError,
} from '../../../../src/protocol/errors';
import { Reader } from '../../../../src/protocol/io/reader';
import { Writer } from '../../../../src/protocol/io/writer';
import { withLimits } from '../../../../src/protocol/limits';
import {
  ClientHello,
  ClientQuery,
  decodeClientPacket,
  decodeLegacySettings,
  decodeServerPacket,
  describeClientPacket,
  encodeClientPacket,
  encodeLegacySettings,
  encodeServerException,
  encodeServerPacket,
  encodeSettings,
  LEGACY_SETTING_KINDS,
} from '../../../../src/protocol/packets';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** Independent byte builder for expected encodings: VarUInt < 128 and ASCII Strings only. */
const str = (s: string): Buffer => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
const cat = (...parts: (Buffer | number[])[]): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));

function enc(f: (w: Writer) => void): Buffer {
  const w = new Writer();
  f(w);
  return w.toBuffer();
}

describe('dispatch of packet codes', () => {
  it('unknown codes are UnknownPacketError, never skipped', () => {
    expect(() => decodeClientPacket(new Reader(Buffer.from([14])), 54460)).toThrow(UnknownPacketError);
    expect(() => decodeClientPacket(new Reader(Buffer.from([0x80, 0x01])), 54460)).toThrow(UnknownPacketError);
    expect(() => decodeServerPacket(new Reader(Buffer.from([19, 0])), 54460)).toThrow(UnknownPacketError);
    expect(() => decodeServerPacket(new Reader(Buffer.from([99])), 54460)).toThrow(UnknownPacketError);
  });

  it('codes that do not exist at the negotiated revision are UnknownPacketError', () => {
    expect(() => decodeClientPacket(new Reader(hex('07 00')), 54428)).toThrow(UnknownPacketError);
    expect(decodeClientPacket(new Reader(hex('07 00')), 54429)).toEqual({ code: ClientCode.Scalar, tableName: '', blockOffset: 2 });
    expect(() => decodeClientPacket(new Reader(hex('0b')), 54460)).toThrow(UnknownPacketError);
    expect(() => decodeClientPacket(new Reader(hex('0c 00')), 54465)).toThrow(UnknownPacketError);
    expect(() => decodeServerPacket(new Reader(hex('0e 00')), 54450)).toThrow(UnknownPacketError);
    expect(decodeServerPacket(new Reader(hex('0e 00')), 54451)).toEqual({ code: ServerCode.ProfileEvents, tableName: '', blockOffset: 2 });
    expect(() => decodeServerPacket(new Reader(hex('0b 00 00')), 54409)).toThrow(UnknownPacketError);
    expect(() => decodeServerPacket(new Reader(hex('11 00')), 54460)).toThrow(UnknownPacketError);
    expect(decodeServerPacket(new Reader(hex('11 03 55 54 43')), 54464)).toEqual({ code: ServerCode.TimezoneUpdate, timezone: 'UTC' });
    expect(() => decodeServerPacket(new Reader(hex('12 00')), 54465)).toThrow(UnknownPacketError);
  });

  it('interserver-only codes are UnsupportedError', () => {
    for (const code of [9, 10, 13]) expect(() => decodeClientPacket(new Reader(Buffer.from([code, 0])), 54460)).toThrow(UnsupportedError);
    for (const code of [13, 15, 16]) expect(() => decodeServerPacket(new Reader(Buffer.from([code, 0])), 54460)).toThrow(UnsupportedError);
  });

  it('no-body packets', () => {
    expect(decodeClientPacket(new Reader(hex('06')), 54460)).toEqual({ code: ClientCode.KeepAlive });
    expect(decodeClientPacket(new Reader(hex('03')), 54460)).toEqual({ code: ClientCode.Cancel });
    expect(decodeServerPacket(new Reader(hex('05')), 54460)).toEqual({ code: ServerCode.EndOfStream });
    expect(() => decodeServerPacket(new Reader(Buffer.alloc(0)), 54460)).toThrow(expect.objectContaining({ needMoreData: true }));
  });
});

describe('18.16 byte examples (native-protocol.md §4.2, §7.1, §7.2, §14)', () => {
  it('server Hello', () => {
    const bytes = cat([0], str('ClickHouse'), hex('12 10 8c a9 03'), str('Etc/UTC'), str('vm'), [1]);
    expect(bytes).toHaveLength(29);
    const p = decodeServerPacket(new Reader(bytes), 54412);
    expect(p).toEqual({
      code: 0,
      serverName: 'ClickHouse',
      versionMajor: 18,
      versionMinor: 16,
      revision: 54412,
      timezone: 'Etc/UTC',
      displayName: 'vm',
      versionPatch: 1,
    });
  });

  it('Progress and ProfileInfo', () => {
    expect(decodeServerPacket(new Reader(hex('03 01 01 00')), 54412)).toEqual({ code: 3, readRows: 1, readBytes: 1, totalRowsToRead: 0 });
    expect(decodeServerPacket(new Reader(hex('06 03 01 b0 04 01 03 01')), 54412)).toEqual({
      code: 6,
      rows: 3,
      blocks: 1,
      bytes: 560,
      appliedLimit: true,
      rowsBeforeLimit: 3,
      calculatedRowsBeforeLimit: true,
    });
  });

  it('Progress counters above 2^53 come back as bigint', () => {
    const max = (1n << 64n) - 1n;
    const bytes = enc((w) => w.varUInt(3).varUInt(max).varUInt(2 ** 53).varUInt(7));
    expect(decodeServerPacket(new Reader(bytes), 54412)).toEqual({ code: 3, readRows: max, readBytes: 2n ** 53n, totalRowsToRead: 7 });
  });
});

describe('Hello limits and variants', () => {
  const hello = (user: string, password = ''): Buffer =>
    enc((w) => w.varUInt(0).string('c').varUInt(1).varUInt(2).varUInt(54460).string('').string(user).string(password));

  it('enforces maxHelloStringBytes on every String', () => {
    expect((decodeClientPacket(new Reader(hello('u'.repeat(4096))), 54460) as ClientHello).user).toHaveLength(4096);
    expect(() => decodeClientPacket(new Reader(hello('u'.repeat(4097))), 54460)).toThrow(LimitError);
    expect(() => decodeClientPacket(new Reader(hello('u', 'p'.repeat(11)), 0, undefined, withLimits({ maxHelloStringBytes: 10 })), 54460)).toThrow(
      expect.objectContaining({ limit: 'maxHelloStringBytes' }),
    );
    // checked before waiting for the bytes: a huge declared length fails at once
    const header = hello('x').subarray(0, -3);
    const huge = Buffer.concat([header, hex('ff ff 03')]);
    expect(() => decodeClientPacket(new Reader(huge), 54460)).toThrow(LimitError);
  });

  it('interserver Hello carries cluster and salt (salt at most 32 bytes)', () => {
    const base = hello(' INTERSERVER SECRET ');
    const p = decodeClientPacket(new Reader(Buffer.concat([base, str('cluster'), str('s'.repeat(32))])), 54460);
    expect(p).toMatchObject({ user: ' INTERSERVER SECRET ', interserver: { cluster: 'cluster', salt: 's'.repeat(32) } });
    expect(() => decodeClientPacket(new Reader(Buffer.concat([base, str('c'), str('s'.repeat(33))])), 54460)).toThrow(LimitError);
    // with a password it is an ordinary user name: nothing more is read
    const r = new Reader(hello(' INTERSERVER SECRET ', 'pw'));
    expect(decodeClientPacket(r, 54460)).not.toHaveProperty('interserver');
    expect(r.remaining).toBe(0);
  });

  it('server Hello rejects more than 256 password complexity rules', () => {
    const bytes = enc((w) => w.varUInt(0).string('CH').varUInt(1).varUInt(1).varUInt(54461).string('UTC').string('d').varUInt(1).varUInt(257));
    expect(() => decodeServerPacket(new Reader(bytes), 54461)).toThrow(LimitError);
  });

  it('addendum: quota key at >= 54458, nothing below', () => {
    const r = new Reader(hex('03 6b 65 79 ff'));
    expect(decodeClientPacket(r, 54458, { expectAddendum: true })).toEqual({ code: -1, quotaKey: 'key' });
    expect(r.pos).toBe(4);
    const r2 = new Reader(hex('ff'));
    expect(decodeClientPacket(r2, 54457, { expectAddendum: true })).toEqual({ code: -1 });
    expect(r2.pos).toBe(0);
  });
});

describe('Exception', () => {
  const item = (code: number, msg: string, nested: boolean): Buffer =>
    cat(enc((w) => w.i32(code)), str('DB::Exception'), str(msg), str(''), [nested ? 1 : 0]);

  it('loops while has_nested and keeps the order', () => {
    const bytes = cat([2], item(1, 'a', true), item(2, 'b', true), item(3, 'c', false));
    const p = decodeServerPacket(new Reader(bytes), 54460);
    expect(p).toEqual({
      code: 2,
      exceptions: [1, 2, 3].map((code, i) => ({ code, name: 'DB::Exception', message: 'abc'[i], stackTrace: '' })),
    });
    expect(enc((w) => encodeServerPacket(w, p, 54460))).toEqual(bytes);
  });

  it('limits the nesting depth', () => {
    const deep = cat([2], ...Array.from({ length: 5 }, () => item(1, 'x', true)), item(1, 'x', false));
    expect(() => decodeServerPacket(new Reader(deep, 0, deep.length, withLimits({ maxDepth: 5 })), 54460)).toThrow(LimitError);
    expect(decodeServerPacket(new Reader(deep, 0, deep.length, withLimits({ maxDepth: 6 })), 54460)).toMatchObject({ code: 2 });
  });

  it('encodeServerException writes code 2 and the nested chain', () => {
    const bytes = enc((w) =>
      encodeServerException(w, {
        code: 210,
        name: 'DB::Exception',
        message: '[proxy] backend down',
        stackTrace: '',
        nested: { code: 209, name: 'DB::NetException', message: 'timeout', stackTrace: 'st' },
      }),
    );
    expect(bytes).toEqual(
      cat([2], enc((w) => w.i32(210)), str('DB::Exception'), str('[proxy] backend down'), str(''), [1],
        enc((w) => w.i32(209)), str('DB::NetException'), str('timeout'), str('st'), [0]),
    );
  });
});

describe('settings', () => {
  it('legacy: unknown names are UnknownSettingError (decode and encode)', () => {
    expect(() => decodeLegacySettings(new Reader(cat(str('no_such_setting'), [1, 0])))).toThrow(UnknownSettingError);
    expect(() => enc((w) => encodeLegacySettings(w, [{ name: 'no_such_setting', value: '1', flags: 0 }]))).toThrow(UnknownSettingError);
  });

  it('legacy: integer kinds encode from text, bools accept true/false, bad text is MalformedError', () => {
    expect(LEGACY_SETTING_KINDS.get('extremes')).toBe('varuint');
    expect(
      enc((w) =>
        encodeLegacySettings(w, [
          { name: 'extremes', value: 'true', flags: 0 },
          { name: 'max_block_size', value: '18446744073709551615', flags: 0 },
          { name: 'load_balancing', value: 'random', flags: 0 },
        ]),
      ),
    ).toEqual(cat(str('extremes'), [1], str('max_block_size'), hex('ff ff ff ff ff ff ff ff ff 01'), str('load_balancing'), str('random'), [0]));
    expect(() => enc((w) => encodeLegacySettings(w, [{ name: 'max_threads', value: 'auto', flags: 0 }]))).toThrow(MalformedError);
    expect(() => enc((w) => encodeLegacySettings(w, [{ name: 'max_threads', value: '-1', flags: 0 }]))).toThrow(MalformedError);
  });

  it('the same setting list encodes in either format (merge regardless of revision)', () => {
    const settings = [
      { name: 'max_block_size', value: '5', flags: 0 },
      { name: 'totals_auto_threshold', value: '0.3', flags: 0 },
    ];
    expect(enc((w) => encodeSettings(w, settings, 54428))).toEqual(
      cat(str('max_block_size'), [5], str('totals_auto_threshold'), str('0.3'), [0]),
    );
    expect(enc((w) => encodeSettings(w, settings, 54429))).toEqual(
      cat(str('max_block_size'), [0], str('5'), str('totals_auto_threshold'), [0], str('0.3'), [0]),
    );
  });
});

describe('describeClientPacket never prints secrets', () => {
  it('redacts the Hello password and interserver salt', () => {
    const hello: ClientHello = {
      code: 0,
      clientName: 'c',
      versionMajor: 1,
      versionMinor: 2,
      revision: 54460,
      database: 'db',
      user: 'alice',
      password: 'hunter2-secret',
    };
    const d = describeClientPacket(hello);
    expect(d).toContain('alice');
    expect(d).not.toContain('hunter2');
    expect(d).toContain('<redacted>');
    const inter = describeClientPacket({ ...hello, user: ' INTERSERVER SECRET ', password: '', interserver: { cluster: 'c1', salt: 'saltsalt' } });
    expect(inter).not.toContain('saltsalt');
    expect(inter).toContain('c1');
  });

  it('redacts the interserver hash and JWT of a Query, prints the rest', () => {
    const q: ClientQuery = {
      code: 1,
      queryId: 'q1',
      clientInfo: { queryKind: 1, initialUser: '', initialQueryId: '', initialAddress: '0.0.0.0:0', interface: 1, jwt: 'eyJhbGciOiJ-token' },
      settings: [{ name: 'max_threads', value: '2', flags: 0 }],
      interserverSecretHash: Buffer.from('0123456789abcdef0123456789abcdef'),
      stage: 2,
      compression: false,
      query: 'SELECT 1',
    };
    const d = describeClientPacket(q);
    expect(d).toContain('SELECT 1');
    expect(d).not.toContain('eyJhbGciOiJ');
    expect(d).not.toContain('0123456789abcdef');
    expect(d.startsWith('Query ')).toBe(true);
  });
});

describe('restartable decoding', () => {
  it('a Query split anywhere decodes after NEED_MORE_DATA once the rest arrives', () => {
    const q: ClientQuery = { code: 1, queryId: 'x', settings: [], stage: 2, compression: true, query: 'SELECT 1', parameters: [] };
    const bytes = enc((w) => encodeClientPacket(w, q, 54459));
    for (let i = 0; i < bytes.length; i++) {
      expect(() => decodeClientPacket(new Reader(bytes, 0, i), 54459)).toThrow(expect.anything());
      try {
        decodeClientPacket(new Reader(bytes, 0, i), 54459);
      } catch (e) {
        expect(e).toBe(NEED_MORE_DATA);
      }
    }
    expect(decodeClientPacket(new Reader(bytes), 54459)).toMatchObject({ query: 'SELECT 1', clientInfo: { queryKind: 0 } });
  });
});

describe('Query', () => {
  it('rejects a compression flag other than 0/1 instead of guessing', () => {
    const bytes = cat([1], str(''), [0], [0], [2], [2], str('SELECT 1'));
    expect(decodeClientPacket(new Reader(Buffer.from(bytes).fill(1, 5, 6)), 54412)).toMatchObject({ compression: true, query: 'SELECT 1' });
    expect(() => decodeClientPacket(new Reader(bytes), 54412)).toThrow(MalformedError);
  });
});

describe('legacy-settings.ts', () => {
  it('is up to date with test/fixtures/legacy-settings.tsv (scripts/gen-legacy-settings.js --check)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { execFileSync } = require('child_process') as typeof import('child_process');
    const root = require('path').join(__dirname, '../../../..') as string;
    expect(() => execFileSync(process.execPath, ['scripts/gen-legacy-settings.js', '--check'], { cwd: root, stdio: 'pipe' })).not.toThrow();
    expect(LEGACY_SETTING_KINDS.size).toBe(315);
    expect(LEGACY_SETTING_KINDS.get('load_balancing')).toBe('string');
  });
});

describe('server Hello between peers of different revisions', () => {
  it('a client above the server reads only the fields of the server revision (min of the two)', () => {
    const { Writer: W } = require('../../../../src/protocol/io/writer');
    const { Reader: R } = require('../../../../src/protocol/io/reader');
    const { encodeServerPacket: enc, decodeServerPacket: dec } = require('../../../../src/protocol/packets');
    const w = new W();
    const hello = { code: 0, serverName: 'ClickHouse', versionMajor: 18, versionMinor: 16, revision: 54412, timezone: 'Etc/UTC', displayName: 'vm', versionPatch: 1 };
    // The 18.16 server writes for a 54492 client exactly what it writes for itself ([captured] 29 bytes).
    enc(w, hello, 54492);
    expect(w.length).toBe(29);
    const r = new R(w.toBuffer());
    expect(dec(r, 54492)).toEqual(hello);
    expect(r.pos).toBe(29);
  });
});

describe('legacy binary settings: signed (SettingInt64) values are zig-zag VarInts', () => {
  it('network_zstd_compression_level = 1 is written as 02, -1 as 01, and reads back', () => {
    const { Writer: W } = require('../../../../src/protocol/io/writer');
    const { Reader: R } = require('../../../../src/protocol/io/reader');
    const { encodeLegacySettings, decodeLegacySettings } = require('../../../../src/protocol/packets');
    for (const [value, byte] of [['1', 0x02], ['-1', 0x01], ['3', 0x06]] as const) {
      const w = new W();
      encodeLegacySettings(w, [{ name: 'network_zstd_compression_level', value, flags: 0 }]);
      const bytes = w.toBuffer();
      expect(bytes[bytes.length - 2]).toBe(byte); // value, then the empty-name terminator
      expect(decodeLegacySettings(new R(bytes))).toEqual([{ name: 'network_zstd_compression_level', value, flags: 0 }]);
    }
  });
});
