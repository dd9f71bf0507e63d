import { TokenKind } from './lexer';
import { unquote as unquoteString } from './unquote';
import { TokenCursor } from './token-cursor';

/** One `name = value` of a SET statement, value as text the server accepts as that setting's value. */
export interface SettingAssignment {
  name: string;
  value: string;
}

/** What a session statement changes in the client's session state. */
export type SessionEffect =
  | { type: 'use'; database: string }
  | { type: 'set'; settings: SettingAssignment[] };

/** Result of parsing the body of `SET …`: the assignments, or why they cannot be recorded and replayed. */
export type SetParseResult = { ok: true; settings: SettingAssignment[] } | { ok: false; reason: string };

/**
 * Parses `USE db` where token `i` is USE. Returns the database name (unquoted), or null when the statement is not
 * exactly `USE <identifier>` (optionally followed by `;`).
 */
export function parseUse(c: TokenCursor, i: number): string | null {
  const db = c.identifier(i + 1);
  if (db === null || db === '' || !c.onlyTrailingAfter(i + 1)) return null;
  return db;
}

/**
 * Parses the assignments of `SET a = 1, b = 'x'` starting at token `i` (just after SET), following the grammar of
 * ClickHouse src/Parsers/ParserSetQuery.cpp. Values become the text form of the setting value (strings unquoted,
 * numbers as written, true/false as 1/0). Anything that cannot be replayed as a plain setting in later Query
 * packets (DEFAULT, NULL, arrays, maps, functions, query parameters `param_x`) gives `ok: false` with a reason.
 */
export function parseSetAssignments(c: TokenCursor, i: number): SetParseResult {
  // SET TIME ZONE [=] 'tz' is an alias for SET session_timezone = 'tz' (ParserSetQuery.cpp).
  if (c.is(i, 'TIME') && c.is(i + 1, 'ZONE')) {
    let j = i + 2;
    if (c.isOp(j, '=')) j++;
    const v = literalValue(c, j);
    if (v === null || !c.onlyTrailingAfter(v.last)) return { ok: false, reason: 'SET TIME ZONE (unparsed value)' };
    return { ok: true, settings: [{ name: 'session_timezone', value: v.value }] };
  }
  const settings: SettingAssignment[] = [];
  let j = i;
  for (;;) {
    const name = compoundName(c, j);
    if (name === null) return { ok: false, reason: 'SET (unparsed)' };
    j = name.next;
    if (name.value.startsWith('param_')) return { ok: false, reason: 'SET query parameter' };
    let value: string;
    if (c.isOp(j, '=')) {
      if (c.is(j + 1, 'DEFAULT')) return { ok: false, reason: 'SET … = DEFAULT' };
      const v = literalValue(c, j + 1);
      if (v === null) return { ok: false, reason: 'SET (unsupported value)' };
      value = v.value;
      j = v.last + 1;
    } else {
      value = '1'; // shorthand `SET flag` means `= true` in current servers
    }
    settings.push({ name: name.value, value });
    if (c.kind(j) === TokenKind.Comma) {
      j++;
      continue;
    }
    if (!c.onlyTrailingAfter(j - 1)) return { ok: false, reason: 'SET (unparsed)' };
    return { ok: true, settings };
  }
}

/** `a` or `a.b` (ParserCompoundIdentifier); quoted parts are unquoted. */
function compoundName(c: TokenCursor, i: number): { value: string; next: number } | null {
  let value = c.identifier(i);
  if (value === null) return null;
  let j = i + 1;
  while (c.kind(j) === TokenKind.Dot) {
    const part = c.identifier(j + 1);
    if (part === null) return null;
    value += `.${part}`;
    j += 2;
  }
  return { value, next: j };
}

/** A scalar literal at token `i` (optionally signed number): its setting text and the index of its last token. */
function literalValue(c: TokenCursor, i: number): { value: string; last: number } | null {
  const k = c.kind(i);
  if (k === TokenKind.String) {
    const t = c.text(i);
    if (t.charCodeAt(0) !== 39) return null; // x'..' / b'..' byte strings: not worth guessing
    return { value: unquoteString(t), last: i };
  }
  if (k === TokenKind.Number) return numberText(c.text(i), '', i);
  if ((c.isOp(i, '-') || c.isOp(i, '+')) && c.kind(i + 1) === TokenKind.Number) {
    return numberText(c.text(i + 1), c.isOp(i, '-') ? '-' : '', i + 1);
  }
  if (c.is(i, 'TRUE')) return { value: '1', last: i };
  if (c.is(i, 'FALSE')) return { value: '0', last: i };
  return null;
}

/**
 * Setting text of a number literal: decimal integers and plain decimals as written (underscores dropped), other
 * forms (hex, binary, exponent) as the value they denote, like the server's Field to string conversion.
 */
function numberText(raw: string, sign: string, last: number): { value: string; last: number } | null {
  const text = raw.replace(/_/g, '');
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return { value: sign + text, last };
  if (/^0[xX][0-9a-fA-F]+$/.test(text) || /^0[bB][01]+$/.test(text)) {
    return { value: sign + BigInt(text).toString(), last };
  }
  const n = Number(text);
  if (!Number.isFinite(n)) return null;
  return { value: sign + String(n), last };
}
