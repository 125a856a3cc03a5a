/**
 * The NBD front end of the primary: each volume served as an NBD export
 * (Unix socket and TCP), each NBD write one host write through the primary.
 * Pure parts: protocol.ts (numbers), codec.ts (wire format), negotiation.ts
 * (option haggling), requests.ts (request checks, block spans, merges),
 * transmission.ts (request framing, replies, error mapping),
 * connectionState.ts (a connection's phase and bounds), admission.ts (the
 * connection bound), listenPlan.ts (where to listen), exportStats.ts,
 * rangeLock.ts, byteQueue.ts, writeRate.ts. I/O: volumeExport.ts
 * (PrimaryVolumeExport, over Primary.read/write), readOnlyExport.ts
 * (ReadOnlyVolumeExport: the secondary's images, xrc snapshot serve), connection.ts
 * (NbdConnection, one socket), nbdServer.ts (NbdFrontEnd, the listeners).
 */
export {
  startNbdServer,
  startNbdFrontEnd,
  defaultSocketPath,
  EXPORT_FLAGS,
  type NbdServer,
  type NbdServerOptions,
  type NbdStatus,
  type NbdExportStatus,
  type ExportSet,
  type NbdFrontEndOptions,
} from './nbdServer.js'
export {
  ReadOnlyVolumeExport,
  readOnlyFlags,
  type BlockRangeReader,
  type ReadOnlyExportOptions,
} from './readOnlyExport.js'
export type { ExportDescription } from './negotiation.js'
export {
  maxPayloadFor,
  PrimaryVolumeExport,
  type AttachedExport,
  type ExportPrimary,
  type VolumeExport,
} from './volumeExport.js'
export * as nbdCodec from './codec.js'
export * as nbdProtocol from './protocol.js'
