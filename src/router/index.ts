/** Public surface of the router: SQL lexer and statement classification. */
export { classify } from './classify';
export type { Classification, Route, StatementKind, InsertInfo } from './classify';
export type { SessionEffect, SettingAssignment } from './session-statements';
export { Lexer, TokenKind, tokenize, tokens, keywordAt } from './lexer';
export { unquote } from './unquote';
export type { Token, LexErrorReason, TokenizeOptions } from './lexer';
