/** Public surface of the packet codecs (every non-block packet of the native protocol, both directions). */
export * from './client';
export * from './server';
export * from './client-hello';
export * from './server-hello';
export * from './client-info';
export * from './settings';
export * from './query';
export * from './exception';
export * from './progress';
export * from './profile-info';
export * from './tables-status';
export * from './table-columns';
export * from './part-uuids';
export * from './simple';
export * from './data-header';
export * from './fields';
export { LEGACY_SETTING_KINDS } from './legacy-settings';
export type { LegacySettingKind } from './legacy-settings';
