/** Field schemas shared by the sections of the configuration schema. */
import { z } from 'zod';
import { hostPortMessage, tryParseHostPort } from './host-port';

/** setTimeout's largest delay; a larger one silently becomes 1 ms in Node. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A listening address: port 0 means any free port. */
export const listenHostPort = z.string().refine(
  (s) => tryParseHostPort(s, true) !== undefined,
  (s) => ({ message: hostPortMessage(s) }),
);

/** A backend address, port 1-65535. */
export const hostPort = z.string().refine(
  (s) => tryParseHostPort(s) !== undefined,
  (s) => ({ message: hostPortMessage(s) }),
);

/** A duration in milliseconds that a timer can hold, with a default. */
export const ms = (min: 0 | 1, fallback: number) => z.number().int().min(min).max(MAX_TIMER_MS).default(fallback);

/** A duration in milliseconds that a timer can hold; absent means "no limit". */
export const optionalMs = () => z.number().int().min(1).max(MAX_TIMER_MS).optional();

/** A size in bytes, with a default. */
export const bytes = (fallback: number) => z.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(fallback);

/** A positive count; absent means "no limit". */
export const optionalCount = () => z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional();

/** A name usable in metric labels and /status: letters, digits, `_`, `.`, `-`. */
export const LABEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** An environment variable name, as `${NAME}` accepts it. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A ClickHouse setting name (Settings.h names are snake_case identifiers). */
export const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A setting value as YAML writes it; sent to the server as text (see settingValueText). */
export const settingValue = z.union([z.string(), z.number().finite(), z.boolean()]);

/** `{ name: value }` settings to inject into queries. */
export const settingsMap = z.record(
  z.string().regex(SETTING_NAME, 'expected a setting name (letters, digits, _)'),
  settingValue,
);

/** A setting value as YAML writes it. */
export type SettingValue = z.infer<typeof settingValue>;

/**
 * The text a setting value travels as. Booleans become 1/0: ClickHouse 18.16 reads a bool setting from text with
 * readBoolText, which takes any first character other than '0' as true, so "false" would mean true there.
 */
export function settingValueText(v: SettingValue): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  return String(v);
}
