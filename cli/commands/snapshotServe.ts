/**
 * `xrc snapshot serve <snapshot|live>`: serves a snapshot of the secondary,
 * or its live image, read-only over NBD (one export per volume, named after
 * it) until SIGINT or SIGTERM, so qemu-img, nbdcopy or a VM can open it. On
 * start it prints one JSON line naming its exports and their URIs, as the
 * services do; logs go to stderr. Which group a client reads, and why:
 * cli/snapshot/imageServer.ts.
 *
 * registerSnapshotServe(snapshot, program) adds `serve` to the `snapshot`
 * command (whoever owns `xrc snapshot` calls it with that command).
 */
import { InvalidArgumentError, type Command } from 'commander'
import type { Config } from '../../lib/config.js'
import type { Logger } from '../../lib/logger.js'
import { parseSchemaName } from '../args.js'
import type { GlobalOptions } from '../context.js'
import type { ImageServer } from '../snapshot/imageServer.js'

interface ServeFlags {
  volume?: string[]
  listen?: { host: string; port: number }
  socket?: string
  schema?: string
}

/** `host:port` (an IPv6 host in brackets: [::1]:10809); port 0 = any free port. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  const port = Number(m?.[3])
  if (!m || port > 65535)
    throw new InvalidArgumentError('expected host:port (an IPv6 host in brackets, [::1]:10809; port 0 = any).')
  return { host: (m[1] ?? m[2]) as string, port }
}

/**
 * The nbd settings the server listens with: TCP on --listen and/or the Unix socket --socket; neither: TCP on
 * nbd.host, any free port. No default socket path (nbd.socket's is the primary's).
 */
export function serveSettings(nbd: Config['nbd'], flags: Pick<ServeFlags, 'listen' | 'socket'>): Config['nbd'] {
  const tcp = flags.listen ?? (flags.socket === undefined ? { host: nbd.host, port: 0 } : undefined)
  return { ...nbd, host: tcp?.host ?? nbd.host, port: tcp?.port ?? -1, socket: flags.socket ?? '-' }
}

export function registerSnapshotServe(snapshot: Command, program: Command): void {
  snapshot
    .command('serve')
    .description(
      "serve a snapshot of the secondary, or its live image ('live'), read-only over NBD until SIGINT/SIGTERM",
    )
    .argument('<snapshot>', "a snapshot's name, or 'live' (each connection reads the group applied when it connected)")
    .option('--volume <volume...>', 'serve these volumes (default: every volume of the secondary)')
    .option('--listen <host:port>', 'TCP address to listen on (port 0 = any free port)', parseListen)
    .option('--socket <path>', 'Unix socket to listen on')
    .option('--schema <schema>', "the secondary's PostgreSQL schema (default: applier.schema)", parseSchemaName)
    .addHelpText(
      'after',
      `
Without --listen or --socket it listens on TCP, nbd.host, any free port. The ready line names each export's URIs:
  xrc snapshot serve nightly --listen 127.0.0.1:10809 &
  nbdinfo nbd://127.0.0.1:10809/vol0
  qemu-img convert -f raw -O qcow2 nbd://127.0.0.1:10809/vol0 vol0-nightly.qcow2
Writes, trims and write-zeroes are refused (NBD_EPERM); the exports are advertised read-only.`,
    )
    .action(async (image: string, flags: ServeFlags) => {
      const { cliConfig, cliLogger } = await import('../context.js')
      const config = cliConfig(program.opts<GlobalOptions>())
      const logger = cliLogger(config, 'xrc-snapshot-serve').child({ session: config.session.name })
      await serve(config, logger, image, flags)
    })
}

/** Serves until a signal, then closes: requests in progress reply, connections end, the pool closes. */
async function serve(config: Config, logger: Logger, image: string, flags: ServeFlags): Promise<void> {
  const { checkPostgres } = await import('../../stack/postgres.js')
  const { createPool } = await import('../../lib/postgres.js')
  const { controllersOf, MAX_LIVE_CONNECTIONS, startImageServer } = await import('../snapshot/imageServer.js')
  await checkPostgres(config.database.url, 5000)
  const settings = serveSettings(config.nbd, flags)
  const max = image === 'live' ? Math.min(settings.maxConnections, MAX_LIVE_CONNECTIONS) + 2 : 8
  const pool = createPool({ url: config.database.url, logger, max, applicationName: 'xrc-snapshot-serve' })
  const schema = flags.schema ?? config.applier.schema
  let server: ImageServer | undefined
  try {
    const signalled = nextSignal(logger)
    server = await startImageServer({
      pool,
      schema,
      session: config.session.name,
      image,
      ...(flags.volume !== undefined ? { volumes: flags.volume } : {}),
      controllers: controllersOf(config),
      settings,
      logger,
    })
    const { tcpUrl, socketPath } = server.server
    const ready = { service: 'snapshot-serve', session: config.session.name, schema, image, asOf: server.asOf }
    const endpoints = { tcp: tcpUrl, socket: socketPath, exports: server.exports }
    process.stdout.write(`${JSON.stringify({ ...ready, ...endpoints, pid: process.pid })}\n`)
    await signalled
  } finally {
    await server?.close()
    await pool.end()
    logger.info('snapshot serve: stopped')
    logger.flush()
  }
}

/**
 * Resolves on the first SIGINT or SIGTERM, logged as `<what>: stopping`; a second one exits at once (the serving
 * commands: snapshot serve, drill start and serve).
 */
export function nextSignal(logger: Logger, what = 'snapshot serve'): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.once('SIGINT', () => process.exit(130))
      process.once('SIGTERM', () => process.exit(130))
      logger.info({ signal }, `${what}: stopping`)
      resolve(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
