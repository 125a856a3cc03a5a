/**
 * Disaster-recovery drills on the secondary (xrc drill): a writable,
 * throwaway copy of the image as of a group, a snapshot with an overlay,
 * never written into the secondary's blocks. Pure: drillRules.ts (names,
 * the group a drill runs on, what start/serve/stop do), overlayMerge.ts
 * (reads over the overlay). I/O: drills.ts (PostgreSQL), drillSql.ts.
 */
export {
  createDrills,
  type DrillHistoryEntry,
  type DrillImage,
  type DrillInfo,
  type DrillLease,
  type Drills,
  type DrillsOptions,
  type StopOptions,
  type StopProgress,
  type StopResult,
} from './drills.js'
export { drillSnapshotName } from './drillRules.js'
export { drillTables } from './drillSql.js'
