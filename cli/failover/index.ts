/**
 * Failover and failback (US 7,877,628): the secondary site takes over when
 * the primary site is lost (runFailover.ts), and the original site is
 * brought back by copying only the segments whose codes differ
 * (runFailback.ts). The decisions are pure (takeoverChecks.ts,
 * lostWrites.ts, segmentCopyPlan.ts, sessionSettings.ts).
 */
export { type FailoverOptions, type FailoverReport, failoverRecordPath, runFailover } from './runFailover.js'
export {
  type FailbackOptions,
  type FailbackProgress,
  type FailbackReport,
  type PassReport,
  failbackRecordPath,
  runFailback,
} from './runFailback.js'
