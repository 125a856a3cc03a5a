/**
 * The applier's run: its lifecycle as a state machine, the decisions around
 * each group (start offset, stop time, a COMMIT whose outcome was unknown),
 * and one group applied with its retries and metrics.
 */
export { ApplierLifecycle, type ApplierState, type StopReason } from './lifecycle.js'
export { settledOutcome, startStep, stepAfter, stepBefore, type StopAt } from './groupSteps.js'
export { APPLY_RETRY, GroupApplier, type ApplyTiming, type BatchResult } from './groupApplier.js'
export {
  addToBatch,
  batchLength,
  joinsBatch,
  type BatchCandidate,
  type BatchLimits,
  type BatchSoFar,
} from './batchRule.js'
export { delayHeld, delayStep, releasedUpTo, tighterBound, type DelayHeld, type DelayStep } from './delayRule.js'
export { DelayGate, KEEP_ALIVE_MS } from './delayGate.js'
export { StallWatch, rpoNowMs, stallReason, type Stall } from './stallWatch.js'
