/**
 * Which tables one statement reads and writes, by a lexer-level scan (no parser): what the result cache needs to
 * invalidate entries on writes (issue 5). It errs towards `complete: false` whenever it cannot be sure: the cache
 * does not store an entry whose reads are incomplete, and treats a write whose writes are incomplete as touching
 * everything. Never throws; linear time; INSERT inline data is never lexed past its first token.
 */
import { TokenKind } from './lexer';
import { TokenCursor } from './token-cursor';
import { classifyInsert } from './insert-statement';

/** A table (or view, dictionary) named in a statement; `database` is null when the name is unqualified. */
export interface TableRef {
  database: string | null;
  table: string;
}

export interface StatementTables {
  /** Tables the statement reads: FROM / JOIN targets and `IN table`, in subqueries and CTE bodies too. */
  reads: TableRef[];
  /** Tables the statement changes (INSERT, ALTER, TRUNCATE, DROP, RENAME, OPTIMIZE, CREATE …). */
  writes: TableRef[];
  /** Table functions seen (lower-cased, in order, once each), e.g. `numbers`; see TRANSPARENT_TABLE_FUNCTIONS. */
  tableFunctions: string[];
  /** False when `reads`/`writes` may miss something (see `reason`). */
  complete: boolean;
  /** Why the lists are incomplete (the first reason found), null when complete. */
  reason: string | null;
}

/** Table functions that read no table and no outside data (their result depends only on their arguments). */
const TRANSPARENT_TABLE_FUNCTIONS: ReadonlySet<string> = new Set([
  'numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'values', 'null', 'generate_series', 'generateseries', 'format',
  'generaterandom', // random data unless seeded: usesNonDeterministicFunction catches it, it reads no table
  'view', 'viewifpermitted', // their argument is a SELECT, scanned like a subquery
]);

/** Functions that read a table or dictionary named by a string argument: the scan cannot name what they read. */
const HIDDEN_READ_FUNCTIONS: ReadonlySet<string> = new Set([
  'dictget', 'dictgetordefault', 'dictgetornull', 'dicthas', 'dictgethierarchy', 'dictisin', 'dictgetchildren',
  'dictgetdescendants', 'dictgetall', 'joinget', 'joingetornull', 'hascolumnintable', 'getsubcolumn',
]);

/** Functions whose arguments use `FROM` / `IN` as syntax (`extract(YEAR FROM d)`, `position('a' IN s)`). */
const FROM_SYNTAX_FUNCTIONS: ReadonlySet<string> = new Set(['extract', 'trim', 'substring', 'substr', 'overlay', 'position']);

/** Words that end a table expression, so they are not an implicit alias after a table name. */
const AFTER_TABLE_WORDS: ReadonlySet<string> = new Set([
  'WHERE', 'PREWHERE', 'GROUP', 'ORDER', 'LIMIT', 'OFFSET', 'HAVING', 'WINDOW', 'QUALIFY', 'JOIN', 'LEFT', 'RIGHT',
  'INNER', 'FULL', 'OUTER', 'CROSS', 'ANY', 'ALL', 'SEMI', 'ANTI', 'ASOF', 'GLOBAL', 'ARRAY', 'PASTE', 'ON', 'USING',
  'UNION', 'EXCEPT', 'INTERSECT', 'SETTINGS', 'FORMAT', 'FINAL', 'SAMPLE', 'INTO', 'AS', 'WITH', 'ENGINE', 'TO',
]);

/** DDL objects whose name is a table for invalidation purposes. */
const TABLE_OBJECTS: readonly (readonly string[])[] = [
  ['TABLE'], ['VIEW'], ['DICTIONARY'], ['MATERIALIZED', 'VIEW'], ['LIVE', 'VIEW'], ['WINDOW', 'VIEW'],
];

/** The tables `sql` (one statement) reads and writes. Never throws. */
export function statementTables(sql: string): StatementTables {
  const s = new Scan(new TokenCursor(sql));
  s.statement();
  return { reads: s.reads, writes: s.writes, tableFunctions: s.functions, complete: s.reason === null, reason: s.reason };
}

/** How a bracket group was opened: whether FROM/IN inside it are syntax, and whether it is a FROM subquery. */
type Group = 'plain' | 'syntax' | 'table';

class Scan {
  readonly reads: TableRef[] = [];
  readonly writes: TableRef[] = [];
  readonly functions: string[] = [];
  reason: string | null = null;
  private readonly seen = new Set<string>();
  private readonly ctes = new Set<string>();
  private readonly aliases = new Set<string>();
  /** Index of the `(` of a subquery in table position: after its `)` come an alias and maybe `, next_table`. */
  private tableGroup = -1;

  constructor(private readonly c: TokenCursor) {}

  incomplete(reason: string): void {
    if (this.reason === null) this.reason = reason;
  }

  statement(): void {
    const c = this.c;
    let i = 0;
    while (c.kind(i) === TokenKind.LParen) i++;
    const verb = c.word(i);
    if (verb === null) return this.incomplete(c.kind(i) === TokenKind.Eof ? 'empty statement' : 'no leading keyword');
    if (i > 0 && verb !== 'SELECT' && verb !== 'WITH') return this.incomplete(`${verb} in parentheses`);
    switch (verb) {
      case 'SELECT':
      case 'WITH':
      case 'EXPLAIN':
        return this.body(0);
      case 'DESCRIBE':
      case 'DESC': {
        const j = c.is(i + 1, 'TABLE') ? i + 2 : i + 1;
        return this.body(this.tableExpression(j, 'read'));
      }
      case 'EXISTS':
      case 'CHECK':
        return this.objectStatement(i + 1, 'read', verb);
      case 'SHOW':
        if (c.is(i + 1, 'CREATE')) return this.objectStatement(i + 2, 'read', 'SHOW CREATE');
        return this.incomplete('SHOW reads system tables');
      case 'INSERT':
        return this.insert(i);
      case 'ALTER':
      case 'CREATE':
      case 'REPLACE':
      case 'ATTACH':
      case 'DETACH':
      case 'UNDROP':
      case 'OPTIMIZE':
      case 'TRUNCATE':
        return this.objectStatement(i + 1, 'write', verb);
      case 'DROP':
        return this.drop(i + 1);
      case 'RENAME':
      case 'EXCHANGE':
        return this.renames(i + 1, verb);
      case 'DELETE':
        if (!c.is(i + 1, 'FROM')) return this.incomplete('DELETE without FROM');
        return this.body(this.name(i + 2, 'write'));
      case 'UPDATE':
        return this.body(this.name(i + 1, 'write'));
      case 'SET':
      case 'USE':
      case 'KILL':
        return this.body(i + 1); // no data changes; scanned for multi-statements only
      default:
        return this.incomplete(`statement ${verb}`);
    }
  }

  /** `[TEMPORARY] {TABLE|VIEW|…} [IF [NOT] EXISTS] name …` after a verb at `j`; other objects are incomplete. */
  private objectStatement(j: number, as: 'read' | 'write', verb: string): void {
    const c = this.c;
    if (verb === 'CREATE' && c.is(j, 'OR') && c.is(j + 1, 'REPLACE')) j += 2;
    if (c.is(j, 'TEMPORARY')) j++;
    const kind = TABLE_OBJECTS.find((words) => words.every((w, n) => c.is(j + n, w)));
    if (kind !== undefined) j += kind.length;
    else if (!((verb === 'EXISTS' || verb === 'OPTIMIZE' || verb === 'CHECK') && c.identifier(j) !== null && !c.is(j, 'DATABASE'))) {
      return this.incomplete(`${verb} ${c.word(j) ?? c.text(j)}`); // databases, users, functions, policies, …
    }
    j = skipIf(c, j);
    j = this.name(j, as);
    if (verb === 'CREATE' || verb === 'ATTACH' || verb === 'REPLACE') {
      j = skipOnCluster(c, j);
      if (c.is(j, 'TO')) j = this.name(j + 1, 'write'); // CREATE MATERIALIZED VIEW mv TO target
    }
    this.body(j, verb === 'ALTER');
  }

  /** DROP [TEMPORARY] {TABLE|VIEW|DICTIONARY} [IF EXISTS | IF EMPTY] name [, name …]. */
  private drop(j: number): void {
    const c = this.c;
    if (c.is(j, 'TEMPORARY')) j++;
    const kind = TABLE_OBJECTS.find((words) => words.every((w, n) => c.is(j + n, w)));
    if (kind === undefined) return this.incomplete(`DROP ${c.word(j) ?? c.text(j)}`);
    j = skipIf(c, j + kind.length);
    j = this.name(j, 'write');
    while (c.kind(j) === TokenKind.Comma) j = this.name(j + 1, 'write');
    this.body(j);
  }

  /** RENAME [TABLE|DICTIONARY] a TO b [, c TO d …]; EXCHANGE {TABLES|DICTIONARIES} a AND b. */
  private renames(j: number, verb: string): void {
    const c = this.c;
    if (c.is(j, 'DATABASE')) return this.incomplete(`${verb} DATABASE`);
    if (c.is(j, 'TABLE') || c.is(j, 'TABLES') || c.is(j, 'DICTIONARY') || c.is(j, 'DICTIONARIES')) j++;
    for (;;) {
      j = this.name(j, 'write');
      if (!c.is(j, 'TO') && !c.is(j, 'AND')) return this.incomplete(`${verb} syntax`);
      j = this.name(j + 1, 'write');
      if (c.kind(j) !== TokenKind.Comma) break;
      j++;
    }
    this.body(j);
  }

  private insert(i: number): void {
    const c = this.c;
    const info = classifyInsert(c, i);
    if (info.table === null) this.incomplete('INSERT INTO FUNCTION');
    else this.add(this.writes, { database: info.database, table: info.table });
    if (!info.select) return;
    // The same walk as classifyInsert: the first top-level SELECT / WITH starts the query.
    for (let j = i + 1; ; ) {
      const k = c.kind(j);
      if (k === TokenKind.Eof) return;
      if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) {
        j = c.skipGroup(j);
        continue;
      }
      if (c.is(j, 'SELECT') || c.is(j, 'WITH')) return this.body(j);
      j++;
    }
  }

  /**
   * A (possibly qualified) name at `j` recorded as read or written; returns the index after it. Anything else there
   * makes the result incomplete (query parameters `{t:Identifier}`, a missing name).
   */
  private name(j: number, as: 'read' | 'write'): number {
    const c = this.c;
    const first = c.identifier(j);
    if (first === null) {
      this.incomplete(c.kind(j) === TokenKind.LBrace ? 'query parameter as a name' : 'expected a table name');
      return j;
    }
    if (c.kind(j + 1) === TokenKind.Dot) {
      const second = c.identifier(j + 2);
      if (second === null) {
        this.incomplete('expected a table name');
        return j + 1;
      }
      this.add(as === 'read' ? this.reads : this.writes, { database: first, table: second });
      return j + 3;
    }
    if (!(as === 'read' && this.ctes.has(first))) this.add(as === 'read' ? this.reads : this.writes, { database: null, table: first });
    return j + 1;
  }

  private add(list: TableRef[], ref: TableRef): void {
    const key = `${list === this.reads ? 'r' : 'w'}\u0000${ref.database ?? '\u0001'}\u0000${ref.table}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    list.push(ref);
  }

  /**
   * A table expression after FROM / JOIN (or DESCRIBE) at `j`: a name, a table function or a subquery. Returns the
   * index where scanning goes on (the `(` of a subquery or a function's arguments, which the body scan enters).
   */
  private tableExpression(j: number, as: 'read'): number {
    const c = this.c;
    const k = c.kind(j);
    if (k === TokenKind.LParen) {
      if (!(c.is(j + 1, 'SELECT') || c.is(j + 1, 'WITH') || c.is(j + 1, 'EXPLAIN') || c.kind(j + 1) === TokenKind.LParen)) {
        this.incomplete('parenthesised table expression');
      }
      this.tableGroup = j;
      return j;
    }
    if (c.identifier(j) !== null && c.kind(j + 1) === TokenKind.LParen) {
      const fn = c.text(j).toLowerCase();
      if (!this.functions.includes(fn)) this.functions.push(fn);
      if (!TRANSPARENT_TABLE_FUNCTIONS.has(fn)) this.incomplete(`table function ${fn}`);
      return j + 1;
    }
    return this.afterTable(this.name(j, as));
  }

  /** After a table: `FINAL`, an alias, and `, next_table` (comma join). */
  private afterTable(j: number): number {
    const c = this.c;
    if (c.is(j, 'FINAL')) j++;
    if (c.is(j, 'AS') && c.identifier(j + 1) !== null) j += 2;
    else if (c.kind(j) === TokenKind.QuotedIdentifier || (c.kind(j) === TokenKind.Word && !AFTER_TABLE_WORDS.has(c.word(j)!))) j++;
    if (c.is(j, 'FINAL')) j++;
    return c.kind(j) === TokenKind.Comma ? this.tableExpression(j + 1, 'read') : j;
  }

  /**
   * Scans from `j` to the end of the statement: FROM / JOIN / IN targets, CTE names, hidden reads, with `TO TABLE`
   * as a write in ALTER (MOVE PARTITION … TO TABLE). Stops at a top-level `FORMAT name` (inline data may follow).
   */
  private body(j: number, alter = false): void {
    const c = this.c;
    const groups: Group[] = [];
    for (;;) {
      const k = c.kind(j);
      if (k === TokenKind.Eof) return;
      if (k === TokenKind.Error) return this.incomplete('lexer error');
      if (k === TokenKind.Semicolon) {
        if (!c.onlyTrailingAfter(j)) this.incomplete('several statements');
        return;
      }
      if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) {
        const opener = j > 0 && c.kind(j - 1) === TokenKind.Word ? c.text(j - 1).toLowerCase() : '';
        groups.push(j === this.tableGroup ? 'table' : FROM_SYNTAX_FUNCTIONS.has(opener) ? 'syntax' : 'plain');
        j++;
        continue;
      }
      if (k === TokenKind.RParen || k === TokenKind.RBracket || k === TokenKind.RBrace) {
        const g = groups.pop();
        j = g === 'table' ? this.afterTable(j + 1) : j + 1;
        continue;
      }
      if (k !== TokenKind.Word && k !== TokenKind.QuotedIdentifier) {
        j++;
        continue;
      }
      const syntax = groups.length > 0 && groups[groups.length - 1] === 'syntax';
      const w = c.word(j);
      if (c.is(j + 1, 'AS') && c.identifier(j) !== null) {
        if (c.kind(j + 2) === TokenKind.LParen) this.ctes.add(c.identifier(j)!); // WITH name AS (…)
      }
      if (w === 'AS' && c.identifier(j + 1) !== null) this.aliases.add(c.identifier(j + 1)!);
      if ((w === 'FROM' || (w === 'JOIN' && !c.is(j - 1, 'ARRAY'))) && !syntax) {
        j = this.tableExpression(j + 1, 'read');
        continue;
      }
      if (w === 'IN' && !syntax) {
        j = this.inTarget(j + 1);
        continue;
      }
      if (alter && w === 'TO' && c.is(j + 1, 'TABLE')) {
        j = this.name(j + 2, 'write');
        continue;
      }
      if (w === 'FORMAT' && groups.length === 0 && c.identifier(j + 1) !== null) return;
      if (c.kind(j + 1) === TokenKind.LParen && k === TokenKind.Word) {
        const fn = c.text(j).toLowerCase();
        if (HIDDEN_READ_FUNCTIONS.has(fn)) this.incomplete(`${fn} reads a table or dictionary it names in a string`);
        if (fn === 'input') this.incomplete('input() reads client data');
      }
      j++;
    }
  }

  /** `x IN name` / `x IN db.name` reads a table (or a CTE, or a WITH alias); `IN (…)` is scanned as usual. */
  private inTarget(j: number): number {
    const c = this.c;
    const name = c.identifier(j);
    if (name === null || c.kind(j + 1) === TokenKind.LParen || c.is(j, 'PARTITION')) return j; // … IN PARTITION p
    if (c.kind(j + 1) !== TokenKind.Dot && (this.ctes.has(name) || this.aliases.has(name))) return j + 1;
    return this.name(j, 'read');
  }
}

/** Skips `IF [NOT] EXISTS` and `IF EMPTY` at `j`. */
function skipIf(c: TokenCursor, j: number): number {
  if (!c.is(j, 'IF')) return j;
  if (c.is(j + 1, 'NOT') && c.is(j + 2, 'EXISTS')) return j + 3;
  if (c.is(j + 1, 'EXISTS') || c.is(j + 1, 'EMPTY')) return j + 2;
  return j;
}

/** Skips `ON CLUSTER name` at `j`. */
function skipOnCluster(c: TokenCursor, j: number): number {
  return c.is(j, 'ON') && c.is(j + 1, 'CLUSTER') ? j + 3 : j;
}
