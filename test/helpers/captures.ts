import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/** The 18.16 byte captures vendored from ../shared/vectors (see test/fixtures/vectors/README.md). */
export const CAPTURES_DIR = join(__dirname, '..', 'fixtures', 'vectors', 'captures-18.16');

export interface CaptureEvent {
  dir: 'c2s' | 's2c';
  off: number;
  len: number;
}

/** One decoded packet line of connN.decoded.txt, the capture author's independent decoding. */
export interface ExpectedPacket {
  dir: 'c2s' | 's2c';
  offset: number;
  name: string;
  text: string;
  /** Block packets: table name, column count, row count, frames (undefined when uncompressed). */
  table?: string;
  cols?: number;
  rows?: number;
  frames?: number;
  /** Block packets: "name type" of each column, as the decoder printed them. */
  columns?: string[];
}

export interface Capture {
  name: string;
  conn: string;
  c2s: Buffer;
  s2c: Buffer;
  events: CaptureEvent[];
  expected: ExpectedPacket[];
}

export function listCaptures(): Capture[] {
  const out: Capture[] = [];
  for (const name of readdirSync(CAPTURES_DIR).sort()) {
    if (name.startsWith('_')) continue;
    const dir = join(CAPTURES_DIR, name);
    for (const f of readdirSync(dir).sort()) {
      const m = /^(conn\d+)\.c2s\.bin$/.exec(f);
      if (!m) continue;
      out.push(loadCapture(name, m[1]));
    }
  }
  return out;
}

export function loadCapture(name: string, conn = 'conn1'): Capture {
  const base = join(CAPTURES_DIR, name, conn);
  const events = readFileSync(`${base}.events.jsonl`, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as CaptureEvent);
  const expected = existsSync(`${base}.decoded.txt`) ? parseDecoded(readFileSync(`${base}.decoded.txt`, 'utf8')) : [];
  return {
    name,
    conn,
    c2s: readFileSync(`${base}.c2s.bin`),
    s2c: readFileSync(`${base}.s2c.bin`),
    events,
    expected,
  };
}

function parseDecoded(text: string): ExpectedPacket[] {
  const out: ExpectedPacket[] = [];
  for (const line of text.split('\n')) {
    const m = /^(c2s|s2c) @(\d+) (\w+)(.*)$/.exec(line);
    if (m) {
      const p: ExpectedPacket = { dir: m[1] as 'c2s' | 's2c', offset: Number(m[2]), name: m[3], text: m[4] };
      const t = /table=b'([^']*)'/.exec(m[4]);
      if (t) {
        p.table = t[1];
        p.cols = Number(/cols=(\d+)/.exec(m[4])?.[1]);
        p.rows = Number(/rows=(\d+)/.exec(m[4])?.[1]);
        p.frames = m[4].includes('frames=[') ? (m[4].match(/'offset'/g) ?? []).length : undefined;
        p.columns = [];
      }
      out.push(p);
    } else if (/^\s{4,}\S/.test(line) && out.length && out[out.length - 1].columns) {
      const body = line.trim();
      const eq = body.indexOf(' = [');
      // "name type [prefix=[...]] = values": keep "name type".
      const head = eq >= 0 ? body.slice(0, eq) : body;
      out[out.length - 1].columns!.push(head.replace(/ prefix=\[.*\]$/, ''));
    }
  }
  return out;
}
