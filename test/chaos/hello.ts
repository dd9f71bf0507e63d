/** Hand-written client Hellos for hostile-input and security tests. */
import { ClientCode, Writer } from '../../src/protocol';

/** A Hello written by hand: every field under the test's control. */
export function rawHello(f: { revision: number | bigint; user: Buffer | string; password?: string; database?: string; clientName?: string }): Buffer {
  const w = new Writer();
  const str = (s: Buffer | string) => {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    w.varUInt(b.length).raw(b);
  };
  w.varUInt(ClientCode.Hello);
  str(f.clientName ?? 'ClickHouse chaos');
  w.varUInt(1).varUInt(1);
  if (typeof f.revision === 'bigint') {
    // VarUInt of a 64-bit value, byte by byte (above 2^53 the codec refuses it).
    let v = f.revision;
    while (v >= 0x80n) {
      w.raw(Buffer.of(Number(v & 0x7fn) | 0x80));
      v >>= 7n;
    }
    w.raw(Buffer.of(Number(v)));
  } else w.varUInt(f.revision);
  str(f.database ?? '');
  str(f.user);
  str(f.password ?? '');
  return w.toBuffer();
}
