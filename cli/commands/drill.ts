/**
 * `xrc drill start | serve | stop | status | history`: the disaster-recovery
 * drill. A writable, throwaway copy of the secondary as of a group, served
 * over NBD while mirroring goes on untouched; stopping it discards the copy
 * and records the drill (applier/drill does the work, cli/drill/drillServer.ts
 * serves it). Each takes --schema to pick the secondary (default
 * applier.schema) and --json for JSON lines.
 *
 * start and serve serve in the foreground until `xrc drill stop` (they see
 * the drill stopping and close their exports) or SIGINT/SIGTERM (the drill
 * goes on, unserved: `xrc drill serve` serves it again). They print one
 * JSON line when serving, as the services do; logs go to stderr.
 */
import type { Command } from 'commander'
import type { Drills, StopProgress } from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import type { Logger } from '../../lib/logger.js'
import { integerArg, parseSchemaName } from '../args.js'
import type { GlobalOptions } from '../context.js'
import type { DrillServer } from '../drill/drillServer.js'
import { currentText, groupText, lastText, sourceText } from '../drill/drillText.js'
import { formatMs, jsonLine } from '../format.js'
import { createProgressOutput, progressBar } from '../progress.js'
import { nextSignal, parseListen, serveSettings } from './snapshotServe.js'

interface CommonFlags {
  schema?: string
  json?: boolean
}

interface ServeFlags extends CommonFlags {
  volume?: string[]
  listen?: { host: string; port: number }
  socket?: string
}

interface StartFlags extends ServeFlags {
  atGroup?: number
  name?: string
  serve: boolean
}

interface StopFlags extends CommonFlags {
  checked?: string
  timeout: number
}

const EXAMPLES = `
The drill (the quarterly recovery test of Zerto, AWS DRS, Azure Site Recovery): a writable copy of the
secondary as of a group, served over NBD; its writes go to an overlay, never to the secondary.
Examples:
  xrc drill start --listen 127.0.0.1:10809          the newest applied group, until xrc drill stop
  xrc drill start --at-group 1200 --name q3          a group a snapshot pins (xrc snapshot list)
  qemu-system-x86_64 -drive file=nbd://127.0.0.1:10809/vol0,format=raw ...    boot it, check it
  xrc drill status
  xrc drill stop --checked "VM booted, app answered, 12 orders checked"
  xrc drill history`

/** Registers `xrc drill` and its subcommands. */
export function registerDrillCommands(program: Command): void {
  const drill = program
    .command('drill')
    .description('a disaster-recovery drill: a writable throwaway copy of the secondary, served over NBD')
    .addHelpText('after', EXAMPLES)
  withServe(
    withCommon(
      drill
        .command('start')
        .description('start a drill on the newest applied group (or --at-group) and serve it until xrc drill stop'),
    )
      .option('--at-group <N>', 'the group: the newest applied, or one a snapshot pins', integerArg(1))
      .option('--name <name>', "the drill's name (default drill-<UTC date>-<time>)")
      .option('--no-serve', 'start the drill and exit (serve it later with xrc drill serve)'),
  ).action((flags: StartFlags) => startCommand(program, flags))
  withServe(withCommon(drill.command('serve').description('serve the running drill over NBD until it stops'))).action(
    (flags: ServeFlags) => serveCommand(program, flags),
  )
  withCommon(drill.command('stop').description('stop the drill: discard its copy, keep a history row'))
    .option('--checked <text>', 'what the operator checked, kept in the drill history')
    .option('--timeout <ms>', "how long to wait for the drill's NBD server to close", integerArg(1), 30_000)
    .action((flags: StopFlags) => withDrills(program, flags, 'xrc-drill', (d) => stopCommand(d, flags)))
  withCommon(drill.command('status').description('the running drill, if any, and the last one')).action(
    (flags: CommonFlags) => withDrills(program, flags, 'xrc-drill', (d, c) => statusCommand(d, c, flags)),
  )
  withCommon(drill.command('history').description('the drills run on this secondary, newest first'))
    .option('--limit <n>', 'at most this many', integerArg(1), 20)
    .action((flags: CommonFlags & { limit: number }) =>
      withDrills(program, flags, 'xrc-drill', (d) => historyCommand(d, flags)),
    )
}

function withCommon(c: Command): Command {
  return c
    .option('--schema <schema>', "the secondary's PostgreSQL schema (default: applier.schema)", parseSchemaName)
    .option('--json', 'print JSON lines')
}

function withServe(c: Command): Command {
  return c
    .option('--volume <volume...>', 'serve these volumes (default: every volume of the secondary)')
    .option('--listen <host:port>', 'TCP address to listen on (port 0 = any free port)', parseListen)
    .option('--socket <path>', 'Unix socket to listen on')
}

async function withDrills(
  program: Command,
  flags: CommonFlags,
  name: string,
  work: (drills: Drills, config: Config) => Promise<void>,
): Promise<void> {
  const { cliConfig, commandLogger } = await import('../context.js')
  const { checkPostgres } = await import('../../stack/postgres.js')
  const { createPool } = await import('../../lib/postgres.js')
  const { createDrills } = await import('../../applier/index.js')
  const opts = program.opts<GlobalOptions>()
  const config = cliConfig(opts)
  const logger = commandLogger(opts, name)
  await checkPostgres(config.database.url, 5000)
  const pool = createPool({ url: config.database.url, logger, max: 3, applicationName: name })
  try {
    const schema = flags.schema ?? config.applier.schema
    await work(createDrills({ pool, schema, session: config.session.name, logger }), config)
  } finally {
    await pool.end()
    logger.flush()
  }
}

async function startCommand(program: Command, flags: StartFlags): Promise<void> {
  const { cliConfig, cliLogger, commandLogger } = await import('../context.js')
  const { checkPostgres } = await import('../../stack/postgres.js')
  const { createPool } = await import('../../lib/postgres.js')
  const { createDrills } = await import('../../applier/index.js')
  const opts = program.opts<GlobalOptions>()
  const config = cliConfig(opts)
  const logger = (flags.serve ? cliLogger(config, 'xrc-drill') : commandLogger(opts, 'xrc-drill')).child({
    session: config.session.name,
  })
  await checkPostgres(config.database.url, 5000)
  const pool = createPool({ url: config.database.url, logger, max: 12, applicationName: 'xrc-drill' })
  const schema = flags.schema ?? config.applier.schema
  const drills = createDrills({ pool, schema, session: config.session.name, logger })
  try {
    const began = performance.now()
    const drill = await drills.start({
      ...(flags.name === undefined ? {} : { name: flags.name }),
      ...(flags.atGroup === undefined ? {} : { atGroup: flags.atGroup }),
    })
    const startMs = Math.round(performance.now() - began)
    process.stderr.write(
      `xrc: drill "${drill.name}" started in ${formatMs(startMs)} on ${groupText(drill)}, ${sourceText(drill)}; ` +
        `its writes go to an overlay, never to the secondary\n`,
    )
    if (!flags.serve) {
      process.stdout.write(jsonLine({ ...drill, startMs }) + '\n')
      return
    }
    await serveDrill(config, logger, drills, flags, { startMs, discardOnFailure: true })
  } finally {
    await pool.end()
    logger.flush()
  }
}

async function serveCommand(program: Command, flags: ServeFlags): Promise<void> {
  const { cliConfig, cliLogger } = await import('../context.js')
  const { checkPostgres } = await import('../../stack/postgres.js')
  const { createPool } = await import('../../lib/postgres.js')
  const { createDrills } = await import('../../applier/index.js')
  const config = cliConfig(program.opts<GlobalOptions>())
  const logger = cliLogger(config, 'xrc-drill').child({ session: config.session.name })
  await checkPostgres(config.database.url, 5000)
  const pool = createPool({ url: config.database.url, logger, max: 12, applicationName: 'xrc-drill' })
  const schema = flags.schema ?? config.applier.schema
  try {
    const drills = createDrills({ pool, schema, session: config.session.name, logger })
    await serveDrill(config, logger, drills, flags, { discardOnFailure: false })
  } finally {
    await pool.end()
    logger.flush()
  }
}

/**
 * Takes the serving lease, serves until the drill stops or a signal, then closes: requests in progress reply,
 * connections end, the lease is let go. A start whose serving fails discards the drill it made (no history).
 */
async function serveDrill(
  config: Config,
  logger: Logger,
  drills: Drills,
  flags: ServeFlags,
  how: { startMs?: number; discardOnFailure: boolean },
): Promise<void> {
  const { startDrillServer } = await import('../drill/drillServer.js')
  const { controllersOf } = await import('../snapshot/imageServer.js')
  const schema = flags.schema ?? config.applier.schema
  let server: DrillServer | undefined
  let signalledBy: NodeJS.Signals | undefined
  const lease = await drills.serve().catch(async (err: unknown) => {
    if (how.discardOnFailure) await drills.stop({ record: false }).catch(() => undefined)
    throw err
  })
  try {
    const signalled = nextSignal(logger, 'drill serve')
    try {
      server = await startDrillServer({
        lease,
        session: config.session.name,
        schema,
        ...(flags.volume !== undefined ? { volumes: flags.volume } : {}),
        controllers: controllersOf(config),
        settings: serveSettings(config.nbd, flags),
        logger,
      })
    } catch (err) {
      if (how.discardOnFailure) {
        await lease.release()
        await drills.stop({ record: false }).catch(() => undefined)
      }
      throw err
    }
    const { drill } = lease
    const ready = {
      service: 'drill',
      session: config.session.name,
      schema,
      drill: drill.name,
      snapshot: drill.snapshot,
      asOf: { groupSeq: drill.groupSeq, groupTime: drill.groupTime, journalOffset: drill.journalOffset },
      source: drill.source,
      ...(how.startMs === undefined ? {} : { startMs: how.startMs }),
    }
    const endpoints = { tcp: server.server.tcpUrl, socket: server.server.socketPath, exports: server.exports }
    process.stdout.write(`${JSON.stringify({ ...ready, ...endpoints, pid: process.pid })}\n`)
    const ended = await Promise.race([lease.ended, signalled.then((s) => (signalledBy = s))])
    if (typeof ended !== 'string') {
      logger.info({ why: ended.why }, 'drill serve: closing')
      // a lost lease ends the serving (nothing then stops a stop from discarding under it): a failure
      if (ended.kind === 'lost') {
        process.stderr.write(`xrc: drill "${lease.drill.name}" is no longer served: ${ended.why}\n`)
        process.exitCode = 1
      }
    }
  } finally {
    await server?.close()
    await lease.release()
    if (signalledBy !== undefined)
      process.stderr.write(
        `xrc: drill "${lease.drill.name}" is no longer served but still runs: ` +
          '`xrc drill serve` serves it again, `xrc drill stop` ends it\n',
      )
  }
}

function progressLine(p: StopProgress): string {
  if (p.step === 'waiting-for-server')
    return `waiting for the drill's NBD server (${p.holder}) to close  ${formatMs(p.waitedMs)}`
  const f = p.total === 0 ? 1 : p.done / p.total
  return `discarding the drill's overlay ${progressBar(f)}  ${p.done} of ${p.total} blocks`
}

async function stopCommand(drills: Drills, flags: StopFlags): Promise<void> {
  const progress = createProgressOutput(process.stderr, { plainEveryMs: 2000 })
  const began = performance.now()
  const result = await drills.stop({
    ...(flags.checked === undefined ? {} : { checked: flags.checked }),
    serverTimeoutMs: flags.timeout,
    onProgress: (p) => progress.update(progressLine(p)),
  })
  progress.end()
  const stopMs = Math.round(performance.now() - began)
  if (result.kind === 'nothing') {
    const last = result.last
    const said = last ? ` (the last drill, "${last.name}", stopped at ${last.stoppedAt.toISOString()})` : ''
    if (flags.json) console.log(jsonLine({ stopped: false, ...(last ? { last } : {}) }))
    else console.log(`no drill runs: nothing to stop${said}`)
    return
  }
  const d = result.drill
  if (flags.json) {
    console.log(jsonLine({ stopped: true, ...d, stopMs }))
    return
  }
  console.log(
    `drill "${d.name}" stopped in ${formatMs(stopMs)}: ran ${d.startedAt.toISOString()} to ` +
      `${d.stoppedAt.toISOString()} on ${groupText(d)}; ${d.blocksWritten} blocks written, discarded with its ` +
      `snapshot; checked: ${d.checked ?? '(not given: --checked)'}`,
  )
}

async function statusCommand(drills: Drills, config: Config, flags: CommonFlags): Promise<void> {
  const [current, [last]] = await Promise.all([drills.current(), drills.history(1)])
  if (flags.json) {
    console.log(jsonLine({ session: config.session.name, current: current ?? null, last: last ?? null }))
    return
  }
  console.log(currentText(current))
  console.log(lastText(last))
}

async function historyCommand(drills: Drills, flags: CommonFlags & { limit: number }): Promise<void> {
  const rows = await drills.history(flags.limit)
  if (flags.json) {
    for (const r of rows) console.log(jsonLine(r))
    return
  }
  if (rows.length === 0) console.log('no drill has run on this secondary')
  for (const r of rows) console.log(lastText(r).replace(/^last drill: /, ''))
}
