/**
 * Test helper: parses the Python literals (dicts, lists, tuples, ints, b'' strings, None) that the
 * capture decoder wrote into test/fixtures/vectors/captures-18.16/<capture>/conn*.decoded.txt.
 * An independent reading of the captures, so the codec is not checked against itself.
 */
export type PyValue = null | boolean | number | Buffer | string | PyValue[] | { [k: string]: PyValue };

export function parsePyLiteralAt(s: string, pos: number): [PyValue, number] {
  let i = pos;
  const ws = (): void => {
    while (i < s.length && s[i] === ' ') i++;
  };
  const value = (): PyValue => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      const o: { [k: string]: PyValue } = {};
      ws();
      if (s[i] === '}') return i++, o;
      for (;;) {
        const k = value();
        ws();
        if (s[i++] !== ':') throw new Error(`expected ':' at ${i - 1}`);
        o[String(k instanceof Buffer ? k.toString('latin1') : k)] = value();
        ws();
        const d = s[i++];
        if (d === '}') return o;
        if (d !== ',') throw new Error(`expected ',' or '}' at ${i - 1}`);
      }
    }
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')';
      i++;
      const a: PyValue[] = [];
      ws();
      if (s[i] === close) return i++, a;
      for (;;) {
        a.push(value());
        ws();
        const d = s[i++];
        if (d === close) return a;
        if (d !== ',') throw new Error(`expected ',' at ${i - 1}`);
        ws();
        if (s[i] === close) return i++, a;
      }
    }
    if (c === 'b' && (s[i + 1] === "'" || s[i + 1] === '"')) {
      i++;
      return Buffer.from(str(), 'latin1');
    }
    if (c === "'" || c === '"') return str();
    if (s.startsWith('None', i)) return (i += 4), null;
    if (s.startsWith('True', i)) return (i += 4), true;
    if (s.startsWith('False', i)) return (i += 5), false;
    const m = /^-?\d+/.exec(s.slice(i));
    if (!m) throw new Error(`unexpected '${s.slice(i, i + 10)}' at ${i}`);
    i += m[0].length;
    return Number(m[0]);
  };
  const str = (): string => {
    const q = s[i++];
    let out = '';
    while (s[i] !== q) {
      if (i >= s.length) throw new Error('unterminated string');
      if (s[i] === '\\') {
        const e = s[i + 1];
        i += 2;
        if (e === 'x') {
          out += String.fromCharCode(parseInt(s.slice(i, i + 2), 16));
          i += 2;
        } else out += ({ n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[e] ?? e;
      } else out += s[i++];
    }
    i++;
    return out;
  };
  const v = value();
  return [v, i];
}

/** The literal after `key=` in a decoded.txt line. */
export function pyField(line: string, key: string): PyValue {
  const at = line.indexOf(` ${key}=`);
  if (at < 0) throw new Error(`no ${key}= in ${line.slice(0, 80)}`);
  return parsePyLiteralAt(line, at + key.length + 2)[0];
}

/** A bytes literal as UTF-8 text (the captures hold UTF-8 strings), or a str literal as is. */
export function pyText(v: PyValue): string {
  if (typeof v === 'string') return v;
  if (!(v instanceof Buffer)) throw new Error(`not bytes: ${String(v)}`);
  return v.toString('utf8');
}

export interface DecodedLine {
  dir: 'c2s' | 's2c';
  offset: number;
  kind: string;
  rest: string;
}

/** Packet lines (`c2s @123 Query ...`) of a decoded.txt, in file order; block value lines are skipped. */
export function parseDecodedTxt(text: string): DecodedLine[] {
  const out: DecodedLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(c2s|s2c) @(\d+) (\w+)(.*)$/.exec(line);
    if (m) out.push({ dir: m[1] as 'c2s' | 's2c', offset: Number(m[2]), kind: m[3], rest: m[4] });
  }
  return out;
}
