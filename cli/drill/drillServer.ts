/**
 * A drill's copy of the secondary served writable over NBD (`xrc drill
 * start`, `xrc drill serve`): one export per volume, named after it,
 * through the NBD front end of the primary (producer/nbd: NbdFrontEnd)
 * with the primary's own export (PrimaryVolumeExport) over the drill's
 * image instead of a primary: reads are the overlay's blocks over the
 * snapshot's, writes, trims and write-zeroes go to the overlay
 * (applier/drill: DrillImage), never to the secondary's blocks. Unaligned
 * writes read their edge blocks and merge under the export's range lock,
 * as on the primary.
 *
 * Every write is committed to PostgreSQL before it is acknowledged and no
 * block is cached, so FLUSH and FUA need nothing more and several
 * connections may share an export (multi-conn), as on the primary.
 *
 * The server runs while the caller holds the drill's serving lease
 * (Drills.serve); closing it lets requests in progress reply, then closes
 * every connection.
 */
import { Registry } from 'prom-client'
import type { DrillLease } from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import {
  EXPORT_FLAGS,
  PrimaryVolumeExport,
  startNbdFrontEnd,
  type ExportDescription,
  type ExportPrimary,
  type ExportSet,
  type NbdServer,
  type VolumeExport,
} from '../../producer/nbd/index.js'
import { maxReadFor, type ServedExport } from '../snapshot/imageServer.js'

export interface DrillServerOptions {
  lease: DrillLease
  session: string
  schema: string
  /** Volumes to serve (default: every volume of the store). */
  volumes?: readonly string[]
  /** Volume name to controller id, for status (the session's config); -1 when absent. */
  controllers?: ReadonlyMap<string, number>
  /** Where to listen (nbd.socket '-' for none, nbd.port -1 for none) and the connection bounds. */
  settings: Config['nbd']
  logger: Logger
}

export interface DrillServer {
  readonly server: NbdServer
  readonly exports: ServedExport[]
  close(graceMs?: number): Promise<void>
}

/** The URIs a client opens an export by. */
function urisOf(server: NbdServer, name: string): string[] {
  return [
    ...(server.tcpUrl ? [`${server.tcpUrl}/${name}`] : []),
    ...(server.socketPath ? [`nbd+unix:///${name}?socket=${server.socketPath}`] : []),
  ]
}

/** Serves the drill's image of each chosen volume, writable, until close(). */
export async function startDrillServer(options: DrillServerOptions): Promise<DrillServer> {
  const { lease, logger } = options
  const drill = lease.drill
  const log = logger.child({ component: 'drill-serve', drill: drill.name })
  const exportSet = drillExports(options)
  const server = await startNbdFrontEnd({
    exportSet,
    settings: options.settings,
    defaultSocketPath: '',
    logger: log,
    registry: new Registry(),
  })
  const exports = [...exportSet.exports.values()].map((e) => ({
    name: e.name,
    bytes: e.size,
    uris: urisOf(server, e.name),
  }))
  log.info({ groupSeq: drill.groupSeq, exports: exports.map((e) => e.name) }, 'serving the drill writable over NBD')
  return { server, exports, close: (graceMs) => server.close(graceMs) }
}

function drillExports(options: DrillServerOptions): ExportSet {
  const { lease, session, schema } = options
  const { layout } = lease.image
  const byName = new Map(layout.volumes.map((v) => [v.name, v]))
  const chosen = options.volumes === undefined || options.volumes.length === 0 ? undefined : new Set(options.volumes)
  for (const name of chosen ?? [])
    if (!byName.has(name)) throw new XrcError('XRC_NOT_FOUND', { reason: 'storeVolume', volume: name, session })
  const volumeOf = (name: string) => {
    const v = byName.get(name)
    if (v === undefined) throw new XrcError('XRC_NOT_FOUND', { reason: 'storeVolume', volume: name, session })
    return v
  }
  // the drill's image in the shape the primary's export writes through: whole blocks by volume name
  const image: ExportPrimary = {
    read: (volume, block, count) => lease.image.read(volumeOf(volume), block, count),
    write: ({ volume, block, data }) => lease.image.write(volumeOf(volume), block, data),
  }
  const exports = new Map<string, VolumeExport>()
  const descriptions = new Map<string, ExportDescription>()
  const what = `drill "${lease.drill.name}" (group ${lease.drill.groupSeq}), session ${session}, schema ${schema}`
  for (const v of layout.volumes) {
    if (chosen !== undefined && !chosen.has(v.name)) continue
    const e = new PrimaryVolumeExport({
      primary: image,
      name: v.name,
      controller: options.controllers?.get(v.name) ?? -1,
      blocks: v.blocks,
      blockSize: layout.blockSize,
      // a payload of maxReadFor's bytes at any offset: that many whole blocks plus one
      maxWriteBytes: maxReadFor(layout.blockSize) + layout.blockSize,
    })
    exports.set(v.name, e)
    descriptions.set(v.name, {
      name: v.name,
      size: e.size,
      description: `xrc volume ${v.name}: ${what}, writable: writes go to the drill's overlay`,
    })
  }
  return { exports, descriptions, transmissionFlags: EXPORT_FLAGS, blockSize: layout.blockSize }
}
