/**
 * The sidefile: a controller's durable outbound queue of time-stamped writes
 * (segment files of framed entries, fsync group commit), bounded in bytes.
 */
export { createGroupCommit } from './groupCommit.js'
export { type Sidefile, type SidefileFullEvent, type SidefileStats, openSidefile } from './sidefile.js'
export {
  type DecodedEntry,
  type EntryKind,
  type WindowEntry,
  decodeEntry,
  encodeWindowEntry,
  encodeWriteEntry,
  windowEntrySize,
  writeEntrySize,
} from './sidefileEntry.js'
export { ENTRY_HEADER_BYTES } from './sidefileFormat.js'
export { type SidefileWrite, scanSidefileWrites } from './sidefileScan.js'
