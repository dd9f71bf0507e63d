import { tokenize, TokenKind } from './lexer';
import { unquote } from './unquote';

/**
 * Names of the settings a statement changes in its own text (`… SETTINGS a = 1, b = 2`,
 * also `INSERT INTO t SETTINGS … VALUES`). ClickHouse applies these after the settings sent
 * with the Query packet, so a setting the operator enforces must be checked here too.
 * Every SETTINGS keyword outside strings and comments counts (a subquery's too): towards
 * refusing, never towards missing one.
 */
export function settingsClauseNames(sql: string): string[] {
  const toks = tokenize(sql);
  const names: string[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    if (t.kind !== TokenKind.Word || t.text.toUpperCase() !== 'SETTINGS') continue;
    // name = value [, name = value]...
    let j = i + 1;
    for (;;) {
      const name = toks[j];
      const eq = toks[j + 1];
      if (!name || !eq || (name.kind !== TokenKind.Word && name.kind !== TokenKind.QuotedIdentifier) || eq.text !== '=') break;
      names.push(name.kind === TokenKind.QuotedIdentifier ? unquote(name.text) : name.text);
      // Skip the value (one token, or a parenthesised/bracketed one) up to the next comma.
      let k = j + 2;
      let depth = 0;
      for (; k < toks.length; k++) {
        const x = toks[k];
        if (x.kind === TokenKind.LParen || x.kind === TokenKind.LBracket) depth++;
        else if (x.kind === TokenKind.RParen || x.kind === TokenKind.RBracket) depth--;
        else if (depth === 0 && (x.kind === TokenKind.Comma || x.kind === TokenKind.Word || x.kind === TokenKind.Semicolon) && k > j + 2) break;
      }
      if (toks[k]?.kind !== TokenKind.Comma) break;
      j = k + 1;
    }
  }
  return names;
}
