/**
 * The PostgreSQL block store: DDL, binary COPY of block rows, the checks of a
 * group before it is written, reads of volumes (export), and snapshots
 * (copy on write in the apply; create, list, delete, read, diff, copy),
 * and images read by block range for serving them (imageRanges.ts).
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
export {
  createImageRanges,
  type ImageRanges,
  type ImageRangesOptions,
  type RangeImage,
  type StoreLayout,
} from './imageRanges.js'
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
} from './snapshots.js'
export { type FenceResult, fenceSecondary, readFence } from './fence.js'
export { type SeedResult, seedImage } from './seedImage.js'
