import { LimitError, MalformedError, UnknownSettingError } from '../errors';
import { Reader } from '../io/reader';
import { Writer } from '../io/writer';
import { Rev } from '../revision';
import { LEGACY_SETTING_KINDS, LegacySettingKind } from './legacy-settings';

/**
 * Settings lists: Query settings, Query parameters (>= 54459) and server settings in the server
 * Hello (>= 54474). Two wire formats (src/Core/BaseSettings.h, SettingsFields.cpp):
 *  - strings-with-flags (negotiated >= 54429): `String name; VarUInt flags; String value`;
 *  - legacy binary (< 54429): `String name; value` where the value's encoding depends on the
 *    setting's type (VarUInt, VarInt or String), so every name must be known.
 * Both end with an empty name. Either way the decoded form is the same ordered list of text values,
 * so the proxy can merge settings without caring about the revision.
 */
export interface Setting {
  name: string;
  /** Textual value ("5", "random", "0.3"). Legacy integers are converted to decimal text. */
  value: string;
  /** SettingFlags bits; always 0 in the legacy format, which has no flags. */
  flags: number;
}

/** Flag bits of the strings-with-flags format (BaseSettingsHelpers::Flags in src/Core/BaseSettings.h). */
export const SettingFlags = {
  /** The receiver must fail if it does not know the setting. */
  Important: 0x01,
  /** A custom (user-defined) setting or a query parameter; the value is a quoted Field dump. */
  Custom: 0x02,
} as const;

function checkCount(r: Reader, n: number): void {
  if (n > r.limits.maxListEntries) throw new LimitError('maxListEntries', n, r.limits.maxListEntries);
}

/** Strings-with-flags list (also used for parameters and server settings whatever the Query format). */
export function decodeSettingsWithFlags(r: Reader): Setting[] {
  const out: Setting[] = [];
  for (;;) {
    const name = r.string();
    if (name === '') return out;
    checkCount(r, out.length + 1);
    const flags = r.varUInt();
    const value = r.string();
    out.push({ name, value, flags });
  }
}

export function encodeSettingsWithFlags(w: Writer, settings: readonly Setting[]): void {
  for (const s of settings) {
    if (s.name === '') throw new TypeError('a setting name must not be empty (it ends the list)');
    w.string(s.name).varUInt(s.flags).string(s.value);
  }
  w.string('');
}

/** Wire kind of a setting in the legacy binary format, or UnknownSettingError. */
export function legacySettingKind(name: string): LegacySettingKind {
  const kind = LEGACY_SETTING_KINDS.get(name);
  if (kind === undefined) throw new UnknownSettingError(name);
  return kind;
}

/** Legacy binary list (negotiated < 54429). Integers become decimal text, flags 0. */
export function decodeLegacySettings(r: Reader): Setting[] {
  const out: Setting[] = [];
  for (;;) {
    const name = r.string();
    if (name === '') return out;
    checkCount(r, out.length + 1);
    const kind = legacySettingKind(name);
    let value: string;
    if (kind === 'varuint') value = r.varUIntBig().toString();
    else if (kind === 'varint') value = r.varInt().toString();
    else value = r.string();
    out.push({ name, value, flags: 0 });
  }
}

const UINT_RE = /^\d+$/;
const INT_RE = /^-?\d+$/;
const MAX_U64 = (1n << 64n) - 1n;

/** Text of an integer setting → bigint; 'true'/'false' are accepted for bool settings. */
function parseLegacyInt(s: Setting, signed: boolean): bigint {
  const v = s.value.trim().toLowerCase();
  if (v === 'true') return 1n;
  if (v === 'false') return 0n;
  if ((signed ? INT_RE : UINT_RE).test(v)) {
    const n = BigInt(v);
    if (signed ? n >= -(1n << 63n) && n < 1n << 63n : n <= MAX_U64) return n;
  }
  throw new MalformedError(
    `setting '${s.name}': value '${s.value}' is not ${signed ? 'a signed' : 'an unsigned'} 64-bit integer (legacy settings format)`,
  );
}

/** Legacy binary list; each value is encoded by its setting's kind. Flags cannot be represented and are dropped. */
export function encodeLegacySettings(w: Writer, settings: readonly Setting[]): void {
  for (const s of settings) {
    if (s.name === '') throw new TypeError('a setting name must not be empty (it ends the list)');
    const kind = legacySettingKind(s.name);
    w.string(s.name);
    if (kind === 'varuint') w.varUInt(parseLegacyInt(s, false));
    else if (kind === 'varint') w.varInt(parseLegacyInt(s, true));
    else w.string(s.value);
  }
  w.string('');
}

/** Query settings in the format of the negotiated revision (TCPHandler::processQuery, SettingsWriteFormat). */
export function decodeSettings(r: Reader, rev: number): Setting[] {
  return rev >= Rev.SettingsSerializedAsStrings ? decodeSettingsWithFlags(r) : decodeLegacySettings(r);
}

export function encodeSettings(w: Writer, settings: readonly Setting[], rev: number): void {
  if (rev >= Rev.SettingsSerializedAsStrings) encodeSettingsWithFlags(w, settings);
  else encodeLegacySettings(w, settings);
}
