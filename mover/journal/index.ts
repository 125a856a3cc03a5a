/**
 * The journal topic: groups written as markers inside Kafka transactions, the
 * journal's tail read back, and recovery of the mover's position from it.
 */
export { type JournalTail, readJournalTail } from './journalTail.js'
export { type JournalWriter, type JournalWriterHooks, createJournalWriter } from './journalWriter.js'
export { isFencedError } from './writeFailure.js'
export { parseOffsetsHeader } from './journalParts.js'
export { type StartPoint, findStartPoint } from './recovery.js'
