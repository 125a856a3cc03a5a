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
export { createBlockStore, type ApplyOutcome, type BlockStore, type BlockStoreOptions } from './store/index.js'
export type { AppliedMark } from './journal/index.js'
export type { ExportResult } from './store/index.js'
export { createImageRanges, type ImageRanges, type RangeImage, type StoreLayout } from './store/index.js'
export {
  LIVE_IMAGE,
  createSnapshots,
  type BlockRange,
  type CopyResult,
  type DeleteResult,
  type RetentionLimits,
  type SnapshotDiff,
  type SnapshotInfo,
  type SnapshotRequest,
  type SnapshotSpace,
  type Snapshots,
  type SnapshotsOptions,
  type VolumeDiff,
} from './store/index.js'
export {
  createDrills,
  drillSnapshotName,
  drillTables,
  type DrillHistoryEntry,
  type DrillImage,
  type DrillInfo,
  type DrillLease,
  type Drills,
  type StopProgress,
  type StopResult,
} from './drill/index.js'
export { createSegmentCodes, type SegmentCodeRead, type SegmentCodes, type VolumeCodes } from './codes/index.js'
export { replay, type ReplayOptions, type ReplayProgress, type ReplaySummary } from './replay.js'
export {
  rebaseSecondary,
  rollbackSecondary,
  type ImageState,
  type RebaseResult,
  type RollbackResult,
} from './resync/index.js'
export { GroupAssembler, createUpdatesReader, type UpdatesReader } from './journal/index.js'
export { resyncTables } from './resync/index.js'
export { appliedNote, publishAppliedOnce } from './feedback/index.js'
export { BLOCK_ROW_COLUMNS, type BlockRow, encodeBlockRows, storeTables } from './store/index.js'
export { type FenceResult, type SeedResult, fenceSecondary, readFence, seedImage } from './store/index.js'
