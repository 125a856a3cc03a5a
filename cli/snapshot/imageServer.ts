/**
 * An image of the secondary served read-only over NBD (`xrc snapshot
 * serve`): one export per volume, named after it, through the NBD front end
 * of the primary (producer/nbd: NbdFrontEnd with ReadOnlyVolumeExport) and
 * the secondary's reads by block range (applier/store/imageRanges.ts).
 *
 * Which group a client reads:
 * - a snapshot: its pinned group, for every connection (the exports
 *   advertise multi-conn: every connection reads the same image);
 * - 'live': the group applied when the connection connected. Each
 *   connection reads inside one REPEATABLE READ transaction of its own,
 *   opened as it enters the transmission phase, so what it reads is one
 *   consistent group, never a mix, however many groups apply meanwhile; a
 *   client that reconnects sees a newer group. Not multi-conn, since two
 *   connections may read two groups. A live connection holds a PostgreSQL
 *   connection, so their number is bounded by the pool (MAX_LIVE_CONNECTIONS).
 *   The alternative, a snapshot made at connect time and deleted after,
 *   would write to the secondary and wait on the applier's lock.
 */
import { Registry } from 'prom-client'
import {
  createImageRanges,
  LIVE_IMAGE,
  type AppliedMark,
  type ImageRanges,
  type RangeImage,
} from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import {
  ReadOnlyVolumeExport,
  readOnlyFlags,
  startNbdFrontEnd,
  type BlockRangeReader,
  type ExportDescription,
  type ExportSet,
  type NbdServer,
  type VolumeExport,
} from '../../producer/nbd/index.js'

/** Largest READ advertised (rounded down to whole blocks). */
export const MAX_READ_BYTES = 1024 * 1024
/** Most connections to a live export at once: each holds a PostgreSQL connection. */
export const MAX_LIVE_CONNECTIONS = 32

export interface ImageServerOptions {
  pool: Pool
  /** The secondary's schema and session. */
  schema: string
  session: string
  /** A snapshot's name, or LIVE_IMAGE ('live'). */
  image: string
  /** Volumes to serve (default: every volume of the store). */
  volumes?: readonly string[]
  /** Volume name to controller id, for status (the session's config); -1 when absent. */
  controllers?: ReadonlyMap<string, number>
  /** Where to listen (nbd.socket '-' for none, nbd.port -1 for none) and the connection bounds. */
  settings: Config['nbd']
  logger: Logger
  registry?: Registry
}

/** One served export, as the ready line announces it. */
export interface ServedExport {
  name: string
  bytes: number
  uris: string[]
}

export interface ImageServer {
  readonly server: NbdServer
  /** The snapshot's name, or 'live'. */
  readonly image: string
  /** A snapshot's group; for 'live', the group applied when the server started (each connection pins its own). */
  readonly asOf: AppliedMark | undefined
  readonly exports: ServedExport[]
  close(graceMs?: number): Promise<void>
}

/** The controller of each volume of the session's config. */
export function controllersOf(config: Config): Map<string, number> {
  return new Map(config.session.controllers.flatMap((c) => c.volumes.map((v) => [v.name, c.id] as const)))
}

/** The maximum READ: MAX_READ_BYTES in whole blocks, at least one block. */
export function maxReadFor(blockSize: number): number {
  return Math.max(1, Math.floor(MAX_READ_BYTES / blockSize)) * blockSize
}

/** The URIs a client opens an export by. */
function urisOf(server: NbdServer, name: string): string[] {
  return [
    ...(server.tcpUrl ? [`${server.tcpUrl}/${name}`] : []),
    ...(server.socketPath ? [`nbd+unix:///${name}?socket=${server.socketPath}`] : []),
  ]
}

/** Serves the image until close(); XRC_NOT_FOUND for an unknown snapshot or volume, XRC_CONFLICT for a pending one. */
export async function startImageServer(options: ImageServerOptions): Promise<ImageServer> {
  const { image, logger } = options
  const log = logger.child({ component: 'snapshot-serve', image })
  const live = image === LIVE_IMAGE
  const ranges = createImageRanges(options)
  const shared = live ? undefined : await ranges.snapshot(image)
  // the live image is opened once at start too: the store and its consistency are checked before listening
  const asOf = shared?.asOf ?? (await openedOnce(ranges.live()))
  const label = live ? 'the live image of the secondary' : `snapshot "${image}" (group ${asOf?.groupSeq})`
  const open = live
    ? async (): Promise<RangeImage> => {
        const view = await ranges.live()
        log.info({ groupSeq: view.asOf?.groupSeq }, 'an NBD connection reads the live image as of one group')
        return view
      }
    : () => Promise.resolve(shared as RangeImage)
  const exportSet = await imageExports(options, ranges, { label, live, open })
  const server = await startNbdFrontEnd({
    exportSet,
    settings: live
      ? { ...options.settings, maxConnections: Math.min(options.settings.maxConnections, MAX_LIVE_CONNECTIONS) }
      : options.settings,
    defaultSocketPath: '',
    logger: log,
    // no /metrics endpoint here: the NBD metrics go to a registry of their own unless one is given
    registry: options.registry ?? new Registry(),
  })
  const exports = [...exportSet.exports.values()].map((e) => ({
    name: e.name,
    bytes: e.size,
    uris: urisOf(server, e.name),
  }))
  log.info({ asOf, exports: exports.map((e) => e.name) }, `serving ${label} read-only over NBD`)
  return { server, image, asOf, exports, close: (graceMs) => server.close(graceMs) }
}

async function openedOnce(opening: Promise<RangeImage>): Promise<AppliedMark | undefined> {
  const view = await opening
  await view.close()
  return view.asOf
}

/** One read-only export per chosen volume, each connection reading through `open`'s image. */
async function imageExports(
  options: ImageServerOptions,
  ranges: ImageRanges,
  image: { label: string; live: boolean; open: () => Promise<RangeImage> },
): Promise<ExportSet> {
  const { label, live, open } = image
  const layout = await ranges.layout()
  const chosen = options.volumes === undefined || options.volumes.length === 0 ? undefined : new Set(options.volumes)
  for (const name of chosen ?? [])
    if (!layout.volumes.some((v) => v.name === name))
      throw new XrcError('XRC_NOT_FOUND', { reason: 'storeVolume', volume: name, session: options.session })
  const exports = new Map<string, VolumeExport>()
  const descriptions = new Map<string, ExportDescription>()
  for (const v of layout.volumes) {
    if (chosen !== undefined && !chosen.has(v.name)) continue
    const e = new ReadOnlyVolumeExport({
      name: v.name,
      controller: options.controllers?.get(v.name) ?? -1,
      blocks: v.blocks,
      blockSize: layout.blockSize,
      maxPayload: maxReadFor(layout.blockSize),
      image: label,
      open: async (): Promise<BlockRangeReader> => {
        const view = await open()
        return { read: (first, count) => view.read(v, first, count), close: () => view.close() }
      },
    })
    exports.set(v.name, e)
    const what = `${label}, session ${options.session}, schema ${options.schema}`
    descriptions.set(v.name, { name: v.name, size: e.size, description: `xrc volume ${v.name}: ${what}, read-only` })
  }
  return { exports, descriptions, transmissionFlags: readOnlyFlags(!live), blockSize: layout.blockSize }
}
