/**
 * Resync on the secondary: the resync tables and whether the image is
 * consistent group by group, with the block versions a rollback needs.
 */
export {
  type ImageState,
  type RebaseResult,
  type RollbackResult,
  applyWindowEvents,
  prepareResyncApply,
  staysQuiet,
  readImageState,
  rebaseSecondary,
  rollbackSecondary,
} from './resyncImage.js'
export {
  type ResyncStart,
  type ResyncTables,
  resyncDdl,
  resyncEndSql,
  resyncStartParams,
  resyncStartSql,
  resyncTables,
} from './resyncTables.js'
