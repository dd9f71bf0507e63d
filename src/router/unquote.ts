/** Decoding of quoted tokens (string literals, quoted identifiers) into their values. */

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', '0': '\0', a: '\x07', v: '\v' };
const isHex = (c: string): boolean => /^[0-9A-Fa-f]$/.test(c);

/**
 * The value of a string literal or quoted identifier token ('…', "…", `…`): strips the quotes, undoes a doubled
 * quote and backslash escapes (\n \t \xHH …; any other escaped character stands for itself), as the server's
 * readQuotedString / parseComplexEscapeSequence do. A bare word is returned unchanged.
 */
export function unquote(text: string): string {
  const q = text.charCodeAt(0);
  if (text.length < 2 || (q !== 39 && q !== 34 && q !== 96) /* ' " ` */ || text.charCodeAt(text.length - 1) !== q) {
    return text;
  }
  const body = text.slice(1, -1);
  if (body.indexOf('\\') < 0 && body.indexOf(text[0]) < 0) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '\\' && i + 1 < body.length) {
      const e = body[++i];
      if ((e === 'x' || e === 'X') && i + 2 < body.length && isHex(body[i + 1]) && isHex(body[i + 2])) {
        out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
      } else {
        out += ESCAPES[e] ?? e;
      }
    } else if (ch === text[0] && body[i + 1] === ch) {
      out += ch;
      i++;
    } else {
      out += ch;
    }
  }
  return out;
}
