import { classify, type Classification } from './classify';

/** Statements remembered (most applications send the same few hundred texts again and again). */
const MAX_ENTRIES = 2048;
/** Longer texts are classified every time: a memo of them would cost more memory than the lexing it saves. */
const MAX_SQL_CHARS = 4096;

const memo = new Map<string, Classification>();

/**
 * classify() with a bounded memo keyed by the exact text: a repeated statement skips the lexer (its tokens were ~700
 * bytes of garbage per `SELECT 1`). Classification is a pure function of the text; the entries are frozen because
 * they are shared between queries. When full, the memo starts over (no LRU bookkeeping on the hot path).
 */
export function classifyCached(sql: string): Classification {
  const hit = memo.get(sql);
  if (hit !== undefined) return hit;
  const cls = deepFreeze(classify(sql));
  if (sql.length <= MAX_SQL_CHARS) {
    if (memo.size >= MAX_ENTRIES) memo.clear();
    memo.set(sql, cls);
  }
  return cls;
}

/** Entries in the memo (tests). */
export function classifyMemoSize(): number {
  return memo.size;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}
