/**
 * Suspend and resync: the mirror's states (duplex, suspended, resyncing), the
 * monitor that suspends on outages, the resync runner and its ordering rule,
 * and the follower of what the secondary says it applied (the applied
 * topic). Resync windows reach the secondary in the controllers' streams.
 */
export { type MirrorState, type MirrorStatus, type ResyncProgress, type SuspendReason, createMirror } from './mirror.js'
export { createResyncMetrics } from './resyncMetrics.js'
export { FOLLOWER_CLOSE_MS } from './appliedFollower.js'
export { type MirrorRecord, loadMirrorRecord } from './mirrorRecord.js'
