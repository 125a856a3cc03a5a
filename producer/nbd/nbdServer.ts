/**
 * The primary's NBD front end: every volume of the controllers this process
 * runs is an export named after the volume, served on a Unix socket and on
 * a TCP port (one net.Server each; the export is chosen by name in the
 * handshake). Connections of both listeners count against one bound
 * (nbd.maxConnections): past it a new connection is closed at once, with a
 * log line (at most one a second, with the count refused since).
 *
 *   const nbd = await startNbdServer({ primary, config, logger, registry })
 *   nbd.tcpUrl     // nbd://127.0.0.1:10809
 *   nbd.socketPath // .xrc/prod1/primary/nbd.sock  (nbd+unix:///db?socket=...)
 *   await nbd.close()  // before primary.stop(): requests in progress finish and reply
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { lstat, mkdir, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Registry } from 'prom-client'
import type { Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { primaryDir } from '../controller/index.js'
import { NbdConnection } from './connection.js'
import { createNbdMetrics } from './nbdMetrics.js'
import type { ExportDescription } from './negotiation.js'
import { TRANSMISSION_FLAGS } from './protocol.js'
import { createVolumeExport, type ExportPrimary, type VolumeExport } from './volumeExport.js'
import { RateMeter } from './writeRate.js'

/** Flags every export advertises: no cache anywhere, so several connections may share an export. */
export const EXPORT_FLAGS =
  TRANSMISSION_FLAGS.HAS_FLAGS |
  TRANSMISSION_FLAGS.SEND_FLUSH |
  TRANSMISSION_FLAGS.SEND_FUA |
  TRANSMISSION_FLAGS.SEND_TRIM |
  TRANSMISSION_FLAGS.SEND_WRITE_ZEROES |
  TRANSMISSION_FLAGS.CAN_MULTI_CONN

/** The longest Unix socket path Linux takes (sun_path less its NUL). */
const MAX_SOCKET_PATH = 107

export interface NbdExportStatus {
  name: string
  controller: number
  bytes: number
  connections: number
  writes: number
  writeBytes: number
  writesPerSecond: number
  writeBytesPerSecond: number
}

export interface NbdStatus {
  tcp?: string
  socket?: string
  maxConnections: number
  /** Open connections, in the handshake or the transmission phase. */
  connections: number
  exports: NbdExportStatus[]
}

export interface NbdServer {
  readonly tcpUrl: string | undefined
  readonly socketPath: string | undefined
  readonly exports: ReadonlyMap<string, VolumeExport>
  status(): NbdStatus
  /** Stops listening, lets requests in progress reply, closes every connection (destroyed after `graceMs`). */
  close(graceMs?: number): Promise<void>
}

export interface NbdServerOptions {
  primary: ExportPrimary & { readonly controllerIds: readonly number[]; readonly maxWriteBytes: number }
  config: Config
  logger: Logger
  /** The primary's registry: the NBD metrics sit beside the producer's. */
  registry: Registry
}

/** The Unix socket of a primary process: nbd.sock, or nbd-<ids>.sock for a process running some controllers. */
export function defaultSocketPath(config: Config, controllerIds: readonly number[]): string {
  const all = config.session.controllers.map((c) => c.id)
  const some = controllerIds.length !== all.length
  return join(
    primaryDir(config.session.dataDir, config.session.name),
    some ? `nbd-${[...controllerIds].sort((a, b) => a - b).join('-')}.sock` : 'nbd.sock',
  )
}

/** Removes a socket file left by a process that is gone; refuses one another process still listens on. */
async function claimSocketPath(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined)
  if (!st) return
  if (!st.isSocket()) throw new XrcError('XRC_CONFIG_INVALID', { reason: 'nbdNotSocket', path, setting: 'nbd.socket' })
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (live) throw new XrcError('XRC_CONFIG_INVALID', { reason: 'nbdSocketTaken', path, setting: 'nbd.socket' })
  await unlink(path)
}

export async function startNbdServer(options: NbdServerOptions): Promise<NbdServer> {
  const { primary, config } = options
  const settings = config.nbd
  const log = options.logger.child({ component: 'nbd' })
  const blockSize = config.session.blockSize
  const exports = new Map<string, VolumeExport>()
  const descriptions = new Map<string, ExportDescription>()
  for (const c of config.session.controllers) {
    if (!primary.controllerIds.includes(c.id)) continue
    for (const v of c.volumes) {
      const e = createVolumeExport({
        primary,
        name: v.name,
        controller: c.id,
        blocks: v.blocks,
        blockSize,
        maxWriteBytes: primary.maxWriteBytes,
      })
      exports.set(v.name, e)
      descriptions.set(v.name, {
        name: v.name,
        size: e.size,
        description:
          `xrc volume ${v.name} of controller ${c.id}, session ${config.session.name} ` +
          `(${blockSize}-byte blocks, mirrored)`,
      })
    }
  }
  const first = exports.values().next().value
  const blockSizes = { minimum: 1, preferred: blockSize, maximum: first?.maxPayload ?? blockSize }
  const open = new Set<NbdConnection>()
  const perExport = new Map<
    string,
    { connections: number; writes: number; bytes: number; rate: RateMeter; byteRate: RateMeter }
  >(
    [...exports.keys()].map((n) => [
      n,
      { connections: 0, writes: 0, bytes: 0, rate: new RateMeter(), byteRate: new RateMeter() },
    ]),
  )
  const metrics = createNbdMetrics(options.registry, () =>
    [...perExport].map(([name, s]) => ({ export: name, count: s.connections })),
  )
  let closing = false
  let refusedSinceLog = 0
  let lastRefusalLog = 0

  function accept(socket: Socket, peer: string): void {
    if (closing) {
      socket.destroy()
      return
    }
    if (open.size >= settings.maxConnections) {
      metrics.refused.inc({ reason: 'max_connections' })
      refusedSinceLog++
      const now = Date.now()
      if (now - lastRefusalLog >= 1000) {
        log.warn(
          { peer, open: open.size, maxConnections: settings.maxConnections, refused: refusedSinceLog },
          `NBD connection refused: ${open.size} connections are open, the bound nbd.maxConnections`,
        )
        lastRefusalLog = now
        refusedSinceLog = 0
      }
      socket.destroy()
      return
    }
    let entered: VolumeExport | undefined
    const conn = new NbdConnection({
      socket,
      peer,
      exports,
      negotiation: () => ({
        exports: descriptions,
        transmissionFlags: EXPORT_FLAGS,
        blockSizes,
        shuttingDown: closing,
      }),
      handshakeTimeoutMs: settings.handshakeTimeoutMs,
      metrics,
      logger: log,
      onTransmission(e) {
        entered = e
        const s = perExport.get(e.name)
        if (s) s.connections++
      },
      onWritten(e, bytes) {
        const s = perExport.get(e.name)
        if (!s) return
        s.writes++
        s.bytes += bytes
        s.rate.add(1)
        s.byteRate.add(bytes)
      },
      onClosed() {
        open.delete(conn)
        const s = entered ? perExport.get(entered.name) : undefined
        if (s) s.connections--
      },
    })
    open.add(conn)
  }

  const servers: Server[] = []
  const listen = (server: Server, target: { port: number; host: string } | { path: string }): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(target, () => {
        server.off('error', reject)
        server.on('error', (err) => log.error({ err }, 'NBD listener failed'))
        resolve()
      })
    })

  let tcpUrl: string | undefined
  let socketPath: string | undefined
  try {
    if (settings.port !== -1) {
      const tcp = createServer((s) => accept(s, `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`))
      await listen(tcp, { port: settings.port, host: settings.host })
      servers.push(tcp)
      const addr = tcp.address()
      const port = typeof addr === 'object' && addr ? addr.port : settings.port
      tcpUrl = `nbd://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`
    }
    if (settings.socket !== '-') {
      const path = settings.socket || defaultSocketPath(config, primary.controllerIds)
      if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) {
        await mkdir(dirname(path), { recursive: true })
        await claimSocketPath(path)
        const unix = createServer((s) => accept(s, 'unix'))
        await listen(unix, { path })
        servers.push(unix)
        socketPath = path
      } else if (settings.socket) {
        throw new XrcError('XRC_CONFIG_INVALID', {
          reason: 'nbdSocketPathLong',
          path,
          maxBytes: MAX_SOCKET_PATH,
          setting: 'nbd.socket',
        })
      } else {
        // the default path under a deep data folder: serve TCP only rather than refuse to start the primary
        log.warn(
          { path, maxBytes: MAX_SOCKET_PATH },
          'the default NBD socket path is too long for a Unix socket: no NBD socket (set nbd.socket to have one)',
        )
      }
    }
  } catch (err) {
    for (const s of servers) s.close()
    throw err
  }
  log.info(
    { tcp: tcpUrl, socket: socketPath, exports: [...exports.keys()], maxPayload: blockSizes.maximum },
    'NBD server listening',
  )

  return {
    tcpUrl,
    socketPath,
    exports,
    status() {
      return {
        ...(tcpUrl ? { tcp: tcpUrl } : {}),
        ...(socketPath ? { socket: socketPath } : {}),
        maxConnections: settings.maxConnections,
        connections: open.size,
        exports: [...exports.values()].map((e) => {
          const s = perExport.get(e.name)
          return {
            name: e.name,
            controller: e.controller,
            bytes: e.size,
            connections: s?.connections ?? 0,
            writes: s?.writes ?? 0,
            writeBytes: s?.bytes ?? 0,
            writesPerSecond: s?.rate.rate() ?? 0,
            writeBytesPerSecond: s?.byteRate.rate() ?? 0,
          }
        }),
      }
    },
    async close(graceMs = 10_000) {
      if (closing) return
      closing = true
      const stopped = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))
      const drained = Promise.all([...open].map((c) => c.shutdown()))
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)))
      if ((await Promise.race([drained, late])) === 'late') {
        log.warn({ open: open.size, graceMs }, 'NBD connections still open after the grace period: closing them')
        for (const c of open) c.destroy()
      }
      clearTimeout(timer)
      await Promise.all(stopped)
      if (socketPath) await unlink(socketPath).catch(() => undefined)
      log.info('NBD server closed')
    },
  }
}
