/** The `limits:` section: codec limits (src/protocol/limits.ts) under snake_case names. */
import type { Limits } from '../protocol';

/** YAML key → Limits field. The check below fails to compile when Limits gains a field not listed here. */
export const LIMIT_KEYS = {
  max_string_bytes: 'maxStringBytes',
  max_hello_string_bytes: 'maxHelloStringBytes',
  max_compressed_frame_bytes: 'maxCompressedFrameBytes',
  max_decompressed_frame_bytes: 'maxDecompressedFrameBytes',
  max_block_bytes: 'maxBlockBytes',
  max_columns: 'maxColumns',
  max_rows: 'maxRows',
  max_array_elements: 'maxArrayElements',
  max_list_entries: 'maxListEntries',
  max_depth: 'maxDepth',
} as const satisfies Record<string, keyof Limits>;

/** A YAML key of the `limits:` section. */
export type LimitKey = keyof typeof LIMIT_KEYS;

type Unlisted = Exclude<keyof Limits, (typeof LIMIT_KEYS)[LimitKey]>;
// Compile-time exhaustiveness: `true` only type-checks when every Limits field has a YAML key.
export const LIMIT_KEYS_COMPLETE: [Unlisted] extends [never] ? true : Unlisted = true;

/** The overrides as the codec wants them (pass to `withLimits`); absent keys keep the codec defaults. */
export function limitsFromConfig(section: Partial<Record<LimitKey, number>>): Partial<Limits> {
  const out: Partial<Limits> = {};
  for (const key of Object.keys(LIMIT_KEYS) as LimitKey[]) {
    const value = section[key];
    if (value !== undefined) out[LIMIT_KEYS[key]] = value;
  }
  return out;
}
