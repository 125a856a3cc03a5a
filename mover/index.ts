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
} from './groups/index.js'
export type { JournalWriterHooks } from './journal/index.js'
export { parseOffsetsHeader, readJournalTail, type JournalTail } from './journal/index.js'
export type { SessionLayout } from './intake/index.js'
export type { FrozenController } from './intake/index.js'
export {
  readDeadLetters,
  summarizeDeadLetters,
  type DeadLetterAction,
  type DeadLetterEntry,
  type DeadLetterSummary,
} from './intake/index.js'
export { resumeFrozen, type ResumeRequest } from './intake/index.js'
