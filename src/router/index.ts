/** Public surface of the router: SQL lexer, statement classification, normalization and routing rules. */
export { classify } from './classify';
export { classifyCached } from './classify-cache';
export type { Classification, Route, StatementKind, InsertInfo } from './classify';
export type { SessionEffect, SettingAssignment } from './session-statements';
export { Lexer, TokenKind, tokenize, tokens, keywordAt } from './lexer';
export { unquote } from './unquote';
export type { Token, LexErrorReason, TokenizeOptions } from './lexer';
export { normalizeSql } from './normalize';
export { compileRules, evaluateRules } from './rules';
export type { RuleSpec, RuleSetting, CompiledRule, RuleContext, RuleDecision } from './rules';
export { settingsClauseNames } from './settings-clause';
export {
  statementTables, nonDeterministicFunctions, nonDeterministicFunctionIn, usesNonDeterministicFunction, readsSystemTables,
  cacheHints, normalizeForCacheKey, MAX_HINT_TTL_SECONDS,
} from './cacheability';
export type { StatementTables, TableRef, NonDeterministicFunction, CacheHints } from './cacheability';
