import { Lexer, TokenKind, keywordAt } from './lexer';
import { TokenCursor } from './token-cursor';
import { parseSetAssignments, parseUse, type SessionEffect } from './session-statements';
import { classifyInsert, type InsertInfo } from './insert-statement';

/** Where a statement runs: a replica reader or the writer. */
export type Route = 'reader' | 'writer';

/** What a statement does, as far as routing and session state are concerned. */
export type StatementKind = 'read' | 'write' | 'session' | 'unknown';

/** The routing decision for one statement. */
export interface Classification {
  kind: StatementKind;
  /** `unknown` goes to the writer: classification may only be wrong towards the writer. */
  route: Route;
  /** Normalized leading keyword(s): 'SELECT', 'INSERT', 'CREATE TABLE', 'SET', 'USE', … ('' if there is none). */
  statement: string;
  /** INSERT only: target and whether the server waits for Data blocks from the client after the Query. */
  insert?: InsertInfo;
  /** Session change the proxy records (USE, SET). */
  session?: SessionEffect;
  /** Why this statement creates state that cannot be replayed on another backend connection. */
  pins?: string;
  /** May run as a `readonly=1` user. */
  readOnlySafe: boolean;
}

export type { InsertInfo } from './insert-statement';

/** Leading keywords that make a statement a write (architecture.md, Routing). */
const WRITE_VERBS: ReadonlySet<string> = new Set([
  'INSERT', 'CREATE', 'ALTER', 'DROP', 'TRUNCATE', 'RENAME', 'EXCHANGE', 'OPTIMIZE', 'ATTACH', 'DETACH', 'GRANT',
  'REVOKE', 'KILL', 'SYSTEM', 'DELETE', 'UPDATE', 'REPLACE', 'UNDROP', 'BACKUP', 'RESTORE', 'MOVE',
]);

/** Write verbs whose statement name includes the kind of object: 'CREATE TABLE', 'DROP DICTIONARY', … */
const OBJECT_VERBS: ReadonlySet<string> = new Set([
  'CREATE', 'ALTER', 'DROP', 'ATTACH', 'DETACH', 'UNDROP', 'REPLACE', 'TRUNCATE', 'EXCHANGE', 'RENAME', 'OPTIMIZE',
]);

/** Object kinds after a DDL verb, longest first. */
const OBJECT_KINDS: readonly (readonly string[])[] = [
  ['MATERIALIZED', 'VIEW'], ['LIVE', 'VIEW'], ['WINDOW', 'VIEW'], ['ROW', 'POLICY'], ['SETTINGS', 'PROFILE'],
  ['NAMED', 'COLLECTION'], ['MASKING', 'POLICY'], ['TABLE'], ['TABLES'], ['VIEW'], ['DATABASE'], ['DICTIONARY'],
  ['FUNCTION'], ['USER'], ['ROLE'], ['POLICY'], ['QUOTA'], ['PROFILE'], ['INDEX'], ['WORKLOAD'], ['RESOURCE'],
];

/** Is token `j` a word after which `name(` is a table function (`FROM numbers(10)`, `DESCRIBE TABLE url(…)`)? */
function isTablePosition(sql: string, lx: Lexer): boolean {
  const { start, end } = lx;
  return keywordAt(sql, start, end, 'FROM') || keywordAt(sql, start, end, 'JOIN') || keywordAt(sql, start, end, 'TABLE') ||
    keywordAt(sql, start, end, 'DESCRIBE') || keywordAt(sql, start, end, 'DESC');
}

/**
 * Classifies one statement of a client's Query packet by a lexer-level scan: leading comments, whitespace and
 * parentheses are skipped, the first keyword decides, a few clauses are inspected. Never throws; linear time.
 */
export function classify(sql: string): Classification {
  const c = new TokenCursor(sql);
  let i = 0;
  while (c.kind(i) === TokenKind.LParen) i++;
  const parens = i;
  const first = c.word(i);
  if (first === null) return unknown('');
  // Only a query may sit in parentheses: `(SELECT 1) UNION ALL (SELECT 2)`.
  if (parens > 0 && first !== 'SELECT' && first !== 'WITH') return unknown(first);

  switch (first) {
    case 'SELECT':
    case 'SHOW':
    case 'EXISTS':
    case 'EXPLAIN':
      return read(c, first);
    case 'DESCRIBE':
    case 'DESC':
      return read(c, 'DESCRIBE');
    case 'CHECK':
      // architecture.md lists CHECK as a read: CHECK TABLE only verifies parts (it needs the CHECK grant, which
      // readonly=1 does not forbid: ContextAccess.cpp not_readonly_flags).
      return read(c, c.is(i + 1, 'TABLE') ? 'CHECK TABLE' : 'CHECK');
    case 'WITH':
      return withQuery(c, i, parens);
    case 'INSERT':
      return { kind: 'write', route: 'writer', statement: 'INSERT', insert: classifyInsert(c, i), readOnlySafe: false };
    case 'USE': {
      const database = parseUse(c, i);
      if (database === null) return unknown('USE');
      return { kind: 'session', route: 'writer', statement: 'USE', session: { type: 'use', database }, readOnlySafe: true };
    }
    case 'SET':
      return setStatement(c, i);
    default:
      if (WRITE_VERBS.has(first)) return write(c, i, first);
      return unknown(first);
  }
}

function unknown(statement: string): Classification {
  return { kind: 'unknown', route: 'writer', statement, readOnlySafe: false };
}

/**
 * A read query. The whole statement is scanned once: a lexer error or a second statement after `;` (the server
 * rejects multi-statements) makes it unknown. Not readonly-safe: a SETTINGS clause (readonly=1 forbids changing any
 * setting) or a table function ("Table functions are forbidden in readonly mode": TableFunctionFactory::get up to
 * 19.x; later ContextAccess revokes CREATE_TEMPORARY_TABLE / TABLE_FUNCTIONS when readonly=1).
 */
function read(c: TokenCursor, statement: string): Classification {
  // One streaming pass with the allocation-free lexer: reads can be long, so no token arrays here.
  const sql = c.sql;
  const lx = new Lexer(sql);
  let settingsClause = false;
  let tableFunction = false;
  let afterSettings = 0; // tokens since a SETTINGS word: `SETTINGS name =` is a settings clause
  let tablePos = 0; // 1: after FROM/JOIN/TABLE/DESCRIBE/DESC; 2: after the name following it
  let ended = false; // a `;` was seen: only more `;` may follow
  for (;;) {
    const k = lx.nextSignificant();
    if (k === TokenKind.Eof) break;
    if (k === TokenKind.Error || (ended && k !== TokenKind.Semicolon)) return unknown(statement);
    if (k === TokenKind.Semicolon) ended = true;
    if (afterSettings > 0 && ++afterSettings === 3 && k === TokenKind.Operator && keywordAt(sql, lx.start, lx.end, '=')) {
      settingsClause = true;
    }
    if (tablePos === 2 && k === TokenKind.LParen) tableFunction = true;
    if (k === TokenKind.Word) {
      const initial = sql.charCodeAt(lx.start) | 0x20; // a cheap filter before comparing words
      if (initial === 0x73 /* s */ && keywordAt(sql, lx.start, lx.end, 'SETTINGS')) afterSettings = 1;
      if (tablePos === 1 && !keywordAt(sql, lx.start, lx.end, 'TABLE')) tablePos = 2;
      else if ((initial === 0x66 || initial === 0x6a || initial === 0x74 || initial === 0x64) && isTablePosition(sql, lx)) {
        tablePos = 1;
      } else tablePos = 0;
    } else {
      tablePos = tablePos === 1 && k === TokenKind.QuotedIdentifier ? 2 : 0;
    }
  }
  return { kind: 'read', route: 'reader', statement, readOnlySafe: !settingsClause && !tableFunction };
}

/** `WITH … SELECT`: a read when the first top-level statement keyword after the CTEs is SELECT. */
function withQuery(c: TokenCursor, i: number, baseDepth: number): Classification {
  let depth = baseDepth;
  for (let j = i + 1; ; j++) {
    const k = c.kind(j);
    if (k === TokenKind.Eof || k === TokenKind.Error || k === TokenKind.Semicolon) return unknown('WITH');
    if (k === TokenKind.LParen || k === TokenKind.LBracket || k === TokenKind.LBrace) depth++;
    else if (k === TokenKind.RParen || k === TokenKind.RBracket || k === TokenKind.RBrace) depth--;
    else if (depth === baseDepth && k === TokenKind.Word) {
      const w = c.word(j);
      if (w === 'SELECT') return read(c, 'SELECT');
      if (w !== null && WRITE_VERBS.has(w)) return unknown('WITH');
    }
  }
}

function write(c: TokenCursor, i: number, verb: string): Classification {
  if (!OBJECT_VERBS.has(verb)) return { kind: 'write', route: 'writer', statement: verb, readOnlySafe: false };
  let j = i + 1;
  if (verb === 'CREATE' && c.is(j, 'OR') && c.is(j + 1, 'REPLACE')) j += 2;
  const temporary = c.is(j, 'TEMPORARY');
  if (temporary) j++;
  let statement = temporary ? `${verb} TEMPORARY` : verb;
  for (const words of OBJECT_KINDS) {
    if (words.every((w, n) => c.is(j + n, w))) {
      statement += ` ${words.join(' ')}`;
      break;
    }
  }
  const result: Classification = { kind: 'write', route: 'writer', statement, readOnlySafe: false };
  // Temporary tables live in the server's session of one TCP connection (native-protocol.md §13 item 5).
  if (temporary) result.pins = 'temporary table';
  return result;
}

/** SET …: session settings, SET ROLE (pins), SET DEFAULT ROLE (a write: it alters users). */
function setStatement(c: TokenCursor, i: number): Classification {
  const j = i + 1;
  if (c.is(j, 'ROLE') && !c.isOp(j + 1, '=')) {
    return { kind: 'session', route: 'writer', statement: 'SET ROLE', pins: 'SET ROLE', readOnlySafe: false };
  }
  if (c.is(j, 'DEFAULT') && c.is(j + 1, 'ROLE')) {
    return { kind: 'write', route: 'writer', statement: 'SET DEFAULT ROLE', readOnlySafe: false };
  }
  // SET TRANSACTION SNAPSHOT belongs to transaction control (ParserSetQuery.cpp defers it), like BEGIN/COMMIT.
  if (c.is(j, 'TRANSACTION')) return unknown('SET TRANSACTION');
  const parsed = parseSetAssignments(c, j);
  if (!parsed.ok) return { kind: 'session', route: 'writer', statement: 'SET', pins: parsed.reason, readOnlySafe: false };
  const result: Classification = {
    kind: 'session',
    route: 'writer',
    statement: 'SET',
    session: { type: 'set', settings: parsed.settings },
    readOnlySafe: false,
  };
  // The session time zone also changes what the server sends (TimezoneUpdate): architecture.md pins it.
  if (parsed.settings.some((s) => s.name === 'session_timezone')) result.pins = 'session_timezone';
  return result;
}
