/**
 * The applier's run: its lifecycle as a state machine, the decisions around
 * each group (start offset, stop time, a COMMIT whose outcome was unknown),
 * and one group applied with its retries and metrics.
 */
export { ApplierLifecycle, type ApplierState, type StopReason } from './lifecycle.js'
export { settledOutcome, startStep, stepAfter, stepBefore } from './groupSteps.js'
export { APPLY_RETRY, GroupApplier, type BatchResult } from './groupApplier.js'
export {
  addToBatch,
  batchLength,
  joinsBatch,
  type BatchCandidate,
  type BatchLimits,
  type BatchSoFar,
} from './batchRule.js'
