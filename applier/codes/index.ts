/**
 * Segment codes with valid flags on the secondary (US 7,877,628): the rules
 * (validFlags.ts, pure), the statements (codesSql.ts), the codes read and
 * recomputed in PostgreSQL (segmentCodeStore.ts) and the applier's job that
 * keeps them valid (codeRecomputer.ts).
 */
export { CodeRecomputer, type CodeRecomputerOptions } from './codeRecomputer.js'
export {
  createSegmentCodes,
  type SegmentCodeRead,
  type SegmentCodes,
  type SegmentCodesOptions,
  type SegmentKey,
  type VolumeCodes,
} from './segmentCodeStore.js'
export { generationAfterApply, mayValidate, segmentsWritten, UNWRITTEN_GENERATION } from './validFlags.js'
