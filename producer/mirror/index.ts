/**
 * Suspend and resync: the mirror's states (duplex, suspended, resyncing), the
 * monitor that suspends on outages, the resync runner and its ordering rule,
 * and the link that tells the secondary about resync windows.
 */
export { type MirrorState, type MirrorStatus, type ResyncProgress, type SuspendReason, createMirror } from './mirror.js'
export { createResyncMetrics } from './resyncMetrics.js'
export { type SecondaryLink, createSecondaryLink } from './secondaryLink.js'
