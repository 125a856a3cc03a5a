/**
 * Reading the updates topic: record sets decoded and checked against the
 * session's rules, bad input dead-lettered or the controller frozen, and the
 * operator's commands (resume a frozen controller, discard).
 */
export { type BadInputDesk, createBadInputDesk } from './badInput.js'
export {
  type DeadLetterAction,
  type DeadLetterEntry,
  type DeadLetterSummary,
  readDeadLetters,
  summarizeDeadLetters,
} from './deadLetters.js'
export { type SessionLayout, type VolumeIndex, checkRecordSet, indexVolumes } from './recordSetRules.js'
export { ClockSkew, type ClockSkewOptions, type SkewReading } from './clockSkew.js'
export { type ResumeRequest, resumeFrozen } from './resume.js'
export { type FrozenController, type UpdatesIntake, createUpdatesIntake, frozenMessage } from './updatesIntake.js'
