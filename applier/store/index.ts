/**
 * The PostgreSQL block store: DDL, binary COPY of block rows, the checks of a
 * group before it is written, and reads of volumes (export).
 */
export {
  type ApplyOutcome,
  type BlockStore,
  type BlockStoreOptions,
  type GroupToApply,
  createBlockStore,
} from './blockStore.js'
export { type StoreTables, storeTables } from './blockStoreDdl.js'
export { BLOCK_ROW_COLUMNS, type BlockRow, encodeBlockRows } from './copyBinary.js'
export { type ExportResult } from './volumeReader.js'
