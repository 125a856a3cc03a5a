/**
 * The primary site (producer): what the CLI and other processes use.
 *
 *   const primary = createPrimary({ config, logger })
 *   await primary.start()
 *   const api = await startHttpApi({ primary, port: config.producer.apiPort, logger })
 *   const ack = await primary.write({ volume: 'vol0', block: 0, data })   // { controller, seq, time }
 *   ...
 *   await api.close(); await primary.stop()
 *
 * Pieces, inside out: sessionClock (hybrid logical clock), volumeFile,
 * sidefile (+ sidefileFormat, sidefileSegments, sidefileEntry),
 * controller (+ controllerState, controllerRecovery), recordSets,
 * kafkaTransport, sender, producerMetrics, primary, httpApi. Suspend and
 * resync: changeBitmap, changeGenerations, changeFiles, changeTracker (the
 * marks), resyncOrdering (the rule), resyncRunner, mirrorRecord,
 * mirrorMonitor, appliedFollower, mirror (the state machine), resyncMetrics.
 */
export {
  createPrimary,
  type Primary,
  type PrimaryEvents,
  type PrimaryOptions,
  type PrimaryStatus,
  type WriteRequest,
  type PrimarySegmentCode,
  type WriteAck,
} from './primary.js'
export { startHttpApi, DEFAULT_MAX_READ_BYTES, type HttpApi, type HttpApiOptions } from './httpApi.js'
export { apiAccess, clientHost, type ApiAccess } from './apiAccess.js'
export { startNbdServer, type NbdServer, type NbdStatus, type NbdExportStatus } from './nbd/index.js'
export { createSessionClock, wallMicros, type SessionClock } from './sessionClock.js'
export { type VolumeFile, openVolumeFile, volumePath, primaryDir } from './controller/index.js'
export { controllerDir } from './controller/index.js'
export type { SidefileFullEvent } from './sidefile/index.js'
export { scanSidefileWrites, type SidefileWrite } from './sidefile/index.js'
export type { MirrorState, MirrorStatus, ResyncProgress, SuspendReason } from './mirror/index.js'
export { loadMirrorRecord } from './mirror/index.js'
