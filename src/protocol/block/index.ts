/** Native block format: type names, BlockInfo, resumable sizing, and a value codec for tests and tools. */
export { parseType, typeToString, typeDepth, quoteString, decimalBytes } from './type-parser';
export type { TypeNode, IntName, GeoName, IntervalUnit } from './type-parser';
export { decodeBlockInfo, encodeBlockInfo, DEFAULT_BLOCK_INFO, OUT_OF_ORDER_BUCKETS_REVISION } from './block-info';
export type { BlockInfo } from './block-info';
export { skipColumn, skipBytes, skipStrings, atom, physicalType, fixedWidth, checkSupported } from './column-sizer';
export type { Sizer, SizerInput } from './column-sizer';
export { sizeBlock, sizeBlockNow, readColumnHeader, parseTypeCached, SerializationKind } from './block-sizer';
export type { BlockSummary } from './block-sizer';
export { decodeColumn, encodeColumn, defaultValue } from './values';
export { decodeBlock, encodeBlock } from './block';
export type { DecodedBlock, BlockInput } from './block';
