/** What kind of scalar the schema expects at a config path, so `${VAR}` (always text) can become a number there. */
import { z } from 'zod';
import { configSchema } from './schema';

/** The scalar kind at a path, or 'other' (strings, enums, unknown paths). */
export type ScalarKind = 'number' | 'boolean' | 'other';

/** Walks configSchema along `path` (object keys and array indexes). */
export function scalarKindAt(path: readonly (string | number)[]): ScalarKind {
  let t: z.ZodTypeAny = configSchema;
  for (let i = 0; ; ) {
    if (t instanceof z.ZodEffects) t = t.innerType();
    else if (t instanceof z.ZodDefault) t = t.removeDefault();
    else if (t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t.unwrap();
    else if (i === path.length) break;
    else if (t instanceof z.ZodObject) {
      const next = (t.shape as Record<string, z.ZodTypeAny>)[String(path[i++])];
      if (next === undefined) return 'other';
      t = next;
    } else if (t instanceof z.ZodArray) {
      t = t.element;
      i++;
    } else return 'other';
  }
  if (t instanceof z.ZodNumber) return 'number';
  if (t instanceof z.ZodBoolean) return 'boolean';
  return 'other';
}
