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
 *
 * NbdFrontEnd is the server: listening (listen, #listenTcp, #listenUnix),
 * connections (#accept through ConnectionGate, #serve, #negotiation),
 * status (per-export ExportStats) and the stop (close, #drain). What is
 * decided without I/O lives in admission.ts, exportStats.ts and
 * listenPlan.ts, each with its property tests. It serves an ExportSet:
 * the primary's volumes (startNbdServer, PrimaryVolumeExport), or any other
 * exports (startNbdFrontEnd: the secondary's read-only images,
 * readOnlyExport.ts), with the transmission flags the set advertises.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { lstat, mkdir, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Registry } from 'prom-client'
import type { Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { primaryDir } from '../controller/index.js'
import { ConnectionGate } from './admission.js'
import { NbdConnection } from './connection.js'
import { ExportStats } from './exportStats.js'
import { MAX_SOCKET_PATH, socketPlan, tcpUrlOf } from './listenPlan.js'
import { createNbdMetrics, type NbdMetrics } from './nbdMetrics.js'
import type { ExportDescription, NegotiationContext } from './negotiation.js'
import { TRANSMISSION_FLAGS } from './protocol.js'
import { PrimaryVolumeExport, type ExportPrimary, type VolumeExport } from './volumeExport.js'

/** Flags every export advertises: no cache anywhere, so several connections may share an export. */
export const EXPORT_FLAGS =
  TRANSMISSION_FLAGS.HAS_FLAGS |
  TRANSMISSION_FLAGS.SEND_FLUSH |
  TRANSMISSION_FLAGS.SEND_FUA |
  TRANSMISSION_FLAGS.SEND_TRIM |
  TRANSMISSION_FLAGS.SEND_WRITE_ZEROES |
  TRANSMISSION_FLAGS.CAN_MULTI_CONN

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

/** What a front end serves: its exports, what a client is told of each, and the flags they advertise. */
export interface ExportSet {
  exports: ReadonlyMap<string, VolumeExport>
  descriptions: ReadonlyMap<string, ExportDescription>
  /** Transmission flags of every export (EXPORT_FLAGS for the primary's). */
  transmissionFlags: number
  /** The preferred block size advertised. */
  blockSize: number
}

/** Where and how a front end listens: the nbd settings, nbd.socket '' meaning `defaultSocketPath`. */
export interface NbdFrontEndOptions {
  exportSet: ExportSet
  settings: Config['nbd']
  defaultSocketPath: string
  logger: Logger
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

/** Listens on `target`; rejects when it cannot, logs a listener's later errors. */
function listenOn(server: Server, target: { port: number; host: string } | { path: string }, log: Logger) {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(target, () => {
      server.off('error', reject)
      server.on('error', (err) => log.error({ err }, 'NBD listener failed'))
      resolve()
    })
  })
}

/** The exports of the controllers this process runs, one per volume, and what a client is told of each. */
function volumeExports(options: NbdServerOptions): ExportSet {
  const { primary, config } = options
  const blockSize = config.session.blockSize
  const exports = new Map<string, VolumeExport>()
  const descriptions = new Map<string, ExportDescription>()
  for (const c of config.session.controllers) {
    if (!primary.controllerIds.includes(c.id)) continue
    for (const v of c.volumes) {
      const e = new PrimaryVolumeExport({
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
  return { exports, descriptions, transmissionFlags: EXPORT_FLAGS, blockSize }
}

/** An export no connection has entered or written to (every export has its stats: never seen). */ const NO_COUNTS = {
  connections: 0,
  writes: 0,
  writeBytes: 0,
  writesPerSecond: 0,
  writeBytesPerSecond: 0,
} as const

/** Starts the NBD server of a primary: listening once it resolves. */
export function startNbdServer(options: NbdServerOptions): Promise<NbdServer> {
  const { primary, config, logger, registry } = options
  return startNbdFrontEnd({
    exportSet: volumeExports(options),
    settings: config.nbd,
    defaultSocketPath: defaultSocketPath(config, primary.controllerIds),
    logger,
    registry,
  })
}

/** Starts an NBD server of any export set: listening once it resolves. */
export async function startNbdFrontEnd(options: NbdFrontEndOptions): Promise<NbdServer> {
  const server = new NbdFrontEnd(options)
  await server.listen()
  return server
}

/**
 * The NBD server of one primary process: its exports, its listeners (TCP,
 * Unix socket), the connections of both under one bound, and a stop that
 * drains them within a grace period.
 */
export class NbdFrontEnd implements NbdServer {
  readonly exports: ReadonlyMap<string, VolumeExport>
  readonly #options: NbdFrontEndOptions
  readonly #settings: Config['nbd']
  readonly #log: Logger
  readonly #descriptions: ReadonlyMap<string, ExportDescription>
  readonly #blockSizes: NegotiationContext['blockSizes']
  readonly #stats: ReadonlyMap<string, ExportStats>
  readonly #metrics: NbdMetrics
  readonly #gate: ConnectionGate
  readonly #open = new Set<NbdConnection>()
  readonly #servers: Server[] = []
  #tcpUrl: string | undefined
  #socketPath: string | undefined

  constructor(options: NbdFrontEndOptions) {
    this.#options = options
    this.#settings = options.settings
    this.#log = options.logger.child({ component: 'nbd' })
    const { exports, descriptions, blockSize } = options.exportSet
    this.exports = exports
    this.#descriptions = descriptions
    const first = exports.values().next().value
    this.#blockSizes = { minimum: 1, preferred: blockSize, maximum: first?.maxPayload ?? blockSize }
    this.#stats = new Map([...exports.keys()].map((n) => [n, new ExportStats()]))
    this.#metrics = createNbdMetrics(options.registry, () =>
      [...this.#stats].map(([name, s]) => ({ export: name, count: s.connections })),
    )
    this.#gate = new ConnectionGate(this.#settings.maxConnections)
  }

  get tcpUrl(): string | undefined {
    return this.#tcpUrl
  }

  get socketPath(): string | undefined {
    return this.#socketPath
  }

  // --- listening ---

  /** Listens on TCP and on the Unix socket, as the settings say; on failure closes what it opened and throws. */
  async listen(): Promise<void> {
    try {
      await this.#listenTcp()
      await this.#listenUnix()
    } catch (err) {
      for (const s of this.#servers) s.close()
      throw err
    }
    this.#log.info(
      {
        tcp: this.#tcpUrl,
        socket: this.#socketPath,
        exports: [...this.exports.keys()],
        maxPayload: this.#blockSizes.maximum,
      },
      'NBD server listening',
    )
  }

  async #listenTcp(): Promise<void> {
    const { port, host } = this.#settings
    if (port === -1) return
    const tcp = createServer((s) => this.#accept(s, `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`))
    await listenOn(tcp, { port, host }, this.#log)
    this.#servers.push(tcp)
    const addr = tcp.address()
    this.#tcpUrl = tcpUrlOf(host, typeof addr === 'object' && addr ? addr.port : port)
  }

  async #listenUnix(): Promise<void> {
    const setting = this.#settings.socket
    const plan = socketPlan(setting, setting === '' ? this.#options.defaultSocketPath : '')
    if (plan.kind === 'none') return
    if (plan.kind === 'too-long') {
      if (plan.explicit)
        throw new XrcError('XRC_CONFIG_INVALID', {
          reason: 'nbdSocketPathLong',
          path: plan.path,
          maxBytes: MAX_SOCKET_PATH,
          setting: 'nbd.socket',
        })
      // the default path under a deep data folder: serve TCP only rather than refuse to start the primary
      this.#log.warn(
        { path: plan.path, maxBytes: MAX_SOCKET_PATH },
        'the default NBD socket path is too long for a Unix socket: no NBD socket (set nbd.socket to have one)',
      )
      return
    }
    await mkdir(dirname(plan.path), { recursive: true })
    await claimSocketPath(plan.path)
    const unix = createServer((s) => this.#accept(s, 'unix'))
    await listenOn(unix, { path: plan.path }, this.#log)
    this.#servers.push(unix)
    this.#socketPath = plan.path
  }

  // --- connections ---

  /** A new connection from either listener: served, or closed at once (closing, or at the bound). */
  #accept(socket: Socket, peer: string): void {
    const open = this.#open.size
    const admission = this.#gate.admit(open, Date.now())
    if (admission.kind === 'serve') return this.#serve(socket, peer)
    if (admission.kind === 'refuse') {
      this.#metrics.refused.inc({ reason: 'max_connections' })
      const maxConnections = this.#gate.maxConnections
      if (admission.log)
        this.#log.warn(
          { peer, open, maxConnections, refused: admission.log.refused },
          `NBD connection refused: ${open} connections are open, the bound nbd.maxConnections`,
        )
    }
    socket.destroy()
  }

  #serve(socket: Socket, peer: string): void {
    let stats: ExportStats | undefined
    const conn = new NbdConnection({
      socket,
      peer,
      exports: this.exports,
      negotiation: () => this.#negotiation(),
      handshakeTimeoutMs: this.#settings.handshakeTimeoutMs,
      metrics: this.#metrics,
      logger: this.#log,
      onTransmission: (e) => {
        stats = this.#stats.get(e.name)
        stats?.entered()
      },
      onWritten: (e, bytes) => this.#stats.get(e.name)?.written(bytes),
      onClosed: () => {
        this.#open.delete(conn)
        stats?.left()
      },
    })
    this.#open.add(conn)
  }

  /** What the handshake offers now (the server may have begun to close since the connection arrived). */
  #negotiation(): Omit<NegotiationContext, 'noZeroes'> {
    return {
      exports: this.#descriptions,
      transmissionFlags: this.#options.exportSet.transmissionFlags,
      blockSizes: this.#blockSizes,
      shuttingDown: this.#gate.closing,
    }
  }

  // --- status and stop ---

  status(): NbdStatus {
    return {
      ...(this.#tcpUrl ? { tcp: this.#tcpUrl } : {}),
      ...(this.#socketPath ? { socket: this.#socketPath } : {}),
      maxConnections: this.#settings.maxConnections,
      connections: this.#open.size,
      exports: [...this.exports.values()].map((e) => ({
        name: e.name,
        controller: e.controller,
        bytes: e.size,
        ...(this.#stats.get(e.name)?.counts() ?? NO_COUNTS),
      })),
    }
  }

  async close(graceMs = 10_000): Promise<void> {
    if (!this.#gate.close()) return
    const stopped = this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))
    await this.#drain(graceMs)
    await Promise.all(stopped)
    if (this.#socketPath) await unlink(this.#socketPath).catch(() => undefined)
    this.#log.info('NBD server closed')
  }

  /** Shuts every connection down; those still open after `graceMs` are destroyed. */
  async #drain(graceMs: number): Promise<void> {
    const drained = Promise.all([...this.#open].map((c) => c.shutdown()))
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)))
    if ((await Promise.race([drained, late])) === 'late') {
      this.#log.warn(
        { open: this.#open.size, graceMs },
        'NBD connections still open after the grace period: closing them',
      )
      for (const c of this.#open) c.destroy()
    }
    clearTimeout(timer)
  }
}
