/**
 * The applier stage: the secondary block store in PostgreSQL, the service
 * that applies the journal to it, and replay from the journal.
 */
export {
  createApplier,
  type Applier,
  type ApplierOptions,
  type ApplierState,
  type ApplierStatus,
  type GroupEvent,
} from './applier.js'
export { createBlockStore, type ApplyOutcome, type BlockStore, type BlockStoreOptions } from './blockStore.js'
export type { AppliedMark } from './groupOrder.js'
export type { ExportResult } from './volumeReader.js'
export { replay, type ReplayOptions, type ReplayProgress, type ReplaySummary } from './replay.js'
export {
  rebaseSecondary,
  rollbackSecondary,
  type ImageState,
  type RebaseResult,
  type RollbackResult,
} from './resyncImage.js'
