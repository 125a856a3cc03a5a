/**
 * The mover stage: consistency groups formed from the controllers' record
 * sets (pure), journaled one Kafka transaction each, restarted from the
 * journal's tail.
 */
export { createMover, type Mover, type MoverOptions, type MoverState, type MoverStatus } from './mover.js'
export {
  createGroupFormer,
  type AddOutcome,
  type CutOptions,
  type FormedGroup,
  type FormerCheckpoint,
  type GroupFormer,
} from './groupFormer.js'
export type { JournalWriterHooks } from './journalWriter.js'
export { readJournalTail, type JournalTail } from './journalTail.js'
export type { SessionLayout } from './recordSetRules.js'
export type { FrozenController } from './updatesIntake.js'
export {
  readDeadLetters,
  summarizeDeadLetters,
  type DeadLetterAction,
  type DeadLetterEntry,
  type DeadLetterSummary,
} from './deadLetters.js'
export { resumeFrozen, type ResumeRequest } from './resume.js'
