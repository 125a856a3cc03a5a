/**
 * Reading the journal: committed parts assembled into whole groups, and the
 * order rule (strictly increasing T, none skipped, none twice).
 */
export { type AppliedMark, checkGroupOrder } from './applyOrder.js'
export { type AssembledGroup, GroupAssembler } from './groupAssembler.js'
export { JOURNAL_FETCH_BYTES, JOURNAL_PARTITION, type JournalFeed, createJournalFeed } from './journalFeed.js'
export { type BufferEffects, UpdatesBuffer } from './updatesBuffer.js'
export {
  DEFAULT_READ_AHEAD_BYTES,
  type UpdatesReader,
  type UpdatesReaderOptions,
  createUpdatesReader,
} from './updatesReader.js'
