/**
 * A storage controller: owns volumes, time-stamps each write from the
 * session clock, makes it durable in its sidefile and on the volume file, and
 * recovers both after a crash (controllerState, controllerRecovery).
 */
export {
  type Controller,
  type ControllerMirror,
  type ControllerStatus,
  type ResyncEntry,
  type WriteAck,
  controllerDir,
  openController,
} from './controller.js'
export { type PrimarySegmentCode } from './segmentCodes.js'
export { type VolumeFile, openVolumeFile, primaryDir, volumePath } from './volumeFile.js'
