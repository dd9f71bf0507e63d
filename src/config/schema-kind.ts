/** What kind of scalar the schema expects at a config path, so `${VAR}` (always text) can become a number there. */
import { z } from 'zod';
import { configSchema } from './schema';

/** The scalar kind at a path, or 'other' (strings, enums, unknown paths). */
export type ScalarKind = 'number' | 'boolean' | 'other';

/** Walks configSchema along `path` (object keys, record keys and array indexes). */
export function scalarKindAt(path: readonly (string | number)[]): ScalarKind {
  const k = kindIn(configSchema, path, 0);
  return k === 'none' ? 'other' : k;
}

/** A literal that no number or boolean text can be mistaken for ('auto'). */
function isWordLiteral(t: z.ZodTypeAny): boolean {
  return t instanceof z.ZodLiteral && typeof t.value === 'string' && !/^(?:[-0-9.]+|true|false)$/.test(t.value);
}

/** 'none': the path does not exist under this schema. */
function kindIn(schema: z.ZodTypeAny, path: readonly (string | number)[], from: number): ScalarKind | 'none' {
  let t = schema;
  for (let i = from; ; ) {
    if (t instanceof z.ZodEffects) t = t.innerType();
    else if (t instanceof z.ZodDefault) t = t.removeDefault();
    else if (t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t.unwrap();
    else if (t instanceof z.ZodUnion) {
      // Only the branches where the path exists count; when they disagree (a setting may be text, a number or a
      // boolean), the value stays text. A word literal (workers: auto | N) does not disagree: no number or boolean
      // text could match it, so `${N}` still becomes a number there, and `auto` stays text.
      const kinds = new Set(
        (t.options as z.ZodTypeAny[]).filter((o) => !isWordLiteral(o)).map((o) => kindIn(o, path, i)).filter((k) => k !== 'none'),
      );
      if (kinds.size === 0) return 'none';
      return kinds.size === 1 ? [...kinds][0]! : 'other';
    } else if (i === path.length) break;
    else if (t instanceof z.ZodObject) {
      const next = (t.shape as Record<string, z.ZodTypeAny>)[String(path[i++])];
      if (next === undefined) return 'none';
      t = next;
    } else if (t instanceof z.ZodRecord) {
      t = t.valueSchema as z.ZodTypeAny;
      i++;
    } else if (t instanceof z.ZodArray) {
      t = t.element;
      i++;
    } else return 'none';
  }
  if (t instanceof z.ZodNumber) return 'number';
  if (t instanceof z.ZodBoolean) return 'boolean';
  return 'other';
}
