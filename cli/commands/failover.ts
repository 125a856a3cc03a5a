/**
 * `xrc failover` and `xrc failback`: the secondary site takes over when the
 * primary site is lost, and hands back to the original site once it
 * returns (cli/failover/). Each prints what it did for people, or one JSON
 * object with --json; exit 1 with a refusal naming the precondition that
 * does not hold.
 */
import type { Command } from 'commander'
import { XrcError } from '../../lib/errors.js'
import { parseDuration, parseSchemaName, parseUrl } from '../args.js'
import type { GlobalOptions } from '../context.js'
import { formatBytes, isoMicros, jsonLine } from '../format.js'
import { createProgressOutput } from '../progress.js'
import type { FailbackProgress, FailbackReport, FailoverReport } from '../failover/index.js'
import { progressBar } from '../progress.js'
import { integerArg } from '../args.js'

interface FailoverFlags {
  newSession: string
  dataDir?: string
  schema?: string
  primary?: string
  force?: boolean
  drainTimeout: number
  json?: boolean
}

function printFailover(r: FailoverReport): void {
  const t = r.consistencyTime === undefined ? 'an empty image (no group applied)' : isoMicros(r.consistencyTime)
  const again = r.alreadyDone ? ' (done by an earlier run; nothing changed)' : ''
  console.log(`failed over session ${r.session} to ${r.newSession}${again}`)
  console.log(
    `the image holds T=${t} (group ${r.groupSeq}); the secondary of ${r.session} is fenced since ${r.fencedAt}`,
  )
  if (r.rolledBack !== null)
    console.log(
      `an unfinished resync was rolled back: ${r.rolledBack.groupsUndone} group(s) undone, ` +
        `${r.rolledBack.blocksRestored} block(s) restored`,
    )
  const lost = r.lostWrites
  const span =
    lost.firstTime !== undefined && lost.lastTime !== undefined
      ? ` (${isoMicros(lost.firstTime)} .. ${isoMicros(lost.lastTime)})`
      : ''
  console.log(
    lost.complete
      ? `lost with the old site: ${lost.count} acknowledged write(s) after T${span} ` +
          `(from the ${lost.sources.join(' and ')})`
      : `lost with the old site: at least ${lost.count} acknowledged write(s) after T${span}; ` +
          `more are not countable: ${lost.uncounted ?? 'unknown'}`,
  )
  if (r.groupsNotApplied > 0) console.log(`${r.groupsNotApplied} journaled group(s) after T were not applied`)
  for (const v of r.volumes) console.log(`volume ${v.name}: ${v.blocks} blocks -> ${v.path}`)
  console.log(
    `${formatBytes(r.bytes)} written; the secondary of ${r.newSession} (schema ${r.schema}) seeded with ` +
      `${r.blocksSeeded} block(s)`,
  )
  console.log(`start the new session: xrc --config ${r.configFile} primary (and mover, applier)`)
}

interface FailbackFlags {
  newSession: string
  schema?: string
  primary?: string
  originalPrimary?: string
  onlinePasses: number
  hot: number
  catchUp: number
  json?: boolean
}

function failbackLine(p: FailbackProgress): string {
  return (
    `failback ${p.phase} ${progressBar(p.done / Math.max(1, p.segments))} ${p.done}/${p.segments} segments ` +
    `compared, ${p.copied} copied (${formatBytes(p.bytesCopied)})`
  )
}

function printFailback(r: FailbackReport): void {
  const again = r.alreadyDone ? ' (done by an earlier run; nothing changed)' : ''
  console.log(
    `failed back session ${r.session} to ${r.newSession} at the original site of ${r.originalSession}${again}`,
  )
  for (const p of r.passes)
    console.log(
      `${p.phase} pass: ${p.compared} segments compared, ${p.copied} ${p.phase === 'check' ? 'differ' : 'copied'}` +
        `${p.deferred > 0 ? `, ${p.deferred} left for the final pass` : ''} (${formatBytes(p.bytesCopied)})`,
    )
  console.log(
    `copied ${r.segmentsCopied} of ${r.segments} segments, ${formatBytes(r.bytesCopied)} against a full copy of ` +
      `${formatBytes(r.fullCopyBytes)} (${(r.fraction * 100).toFixed(2)}%)`,
  )
  console.log(
    `the volumes hold the image as of ${isoMicros(r.consistencyTime)} (writes quiesced at ${r.session}); ` +
      `the secondary of ${r.newSession} (schema ${r.schema}) was seeded from group ${r.groupSeq}`,
  )
  for (const v of r.volumes) console.log(`volume ${v.name}: ${v.path}`)
  console.log(
    `now stop the services of ${r.session} and start the new session: xrc --config ${r.configFile} primary ` +
      `(and mover, applier)`,
  )
}

export function registerFailoverCommands(program: Command): void {
  program
    .command('failback')
    .description(
      'the original site is back: copy to it only the segments whose codes differ, quiesce, and hand production ' +
        'back to it as a new session',
    )
    .requiredOption('--new-session <name>', 'name of the session that runs at the original site afterwards')
    .option('--schema <name>', "the new session's secondary schema (default: xrc_<new session>)", parseSchemaName)
    .option('--primary <url>', "the running (takeover) primary's HTTP API, the source of the copy", parseUrl)
    .option('--original-primary <url>', "the original site's primary API, probed to be sure it is down", parseUrl)
    .option('--online-passes <n>', 'copy passes while writes go on, before the quiesce', integerArg(0, 10), 1)
    .option('--hot <duration>', 'a segment written within this long is left for the final pass', parseDuration, 2000)
    .option('--catch-up <duration>', 'longest wait for the secondary to pass the quiesce time', parseDuration, 60_000)
    .option('--json', 'print the report as one JSON object')
    .action(async (flags: FailbackFlags) => {
      const { cliConfig, commandLogger } = await import('../context.js')
      const { configuredPrimary, primaryClient, primaryQuiesce } = await import('../primaryClient.js')
      const { createPool } = await import('../../lib/postgres.js')
      const { runFailback } = await import('../failover/index.js')
      const opts = program.opts<GlobalOptions>()
      const config = cliConfig(opts)
      const primary = configuredPrimary(config, flags.primary)
      if (!primary) throw new XrcError('XRC_USAGE', { reason: 'primaryUrlNeeded' })
      const logger = commandLogger(opts, 'failback')
      const pool = createPool({ url: config.database.url, logger, max: 2 })
      const out = createProgressOutput(process.stderr)
      const client = primaryClient(primary, 120_000)
      try {
        const report = await runFailback({
          config,
          pool,
          logger,
          newSession: flags.newSession,
          ...(flags.schema !== undefined ? { schema: flags.schema } : {}),
          primary: client,
          ...primaryQuiesce(primary, config.session.name),
          originalPrimaryUrl: flags.originalPrimary,
          onlinePasses: flags.onlinePasses,
          hotMs: flags.hot,
          catchUpMs: flags.catchUp,
          onProgress: (p) => out.update(failbackLine(p)),
          onNote: (line) => out.note(line),
        })
        out.end()
        if (flags.json) console.log(jsonLine(report))
        else printFailback(report)
      } finally {
        out.end()
        await pool.end()
      }
    })

  program
    .command('failover')
    .description(
      'the primary site is lost: fence the secondary at its last consistent image and make it the volumes ' +
        'of a new session at this site',
    )
    .requiredOption('--new-session <name>', 'name of the session that takes over (its primary serves the image)')
    .option('--data-dir <dir>', "where the new session's volume files go (default: session.dataDir)")
    .option('--schema <name>', "the new session's secondary schema (default: xrc_<new session>)", parseSchemaName)
    .option('--primary <url>', "the old primary's HTTP API, probed to be sure it is down", parseUrl)
    .option('--force', 'fail over although the old primary answers, or groups are left unapplied')
    .option(
      '--drain-timeout <duration>',
      'longest to wait for the secondary to apply the groups already journaled',
      parseDuration,
      30_000,
    )
    .option('--json', 'print the report as one JSON object')
    .action(async (flags: FailoverFlags) => {
      const { cliConfig, commandLogger } = await import('../context.js')
      const { configuredPrimary } = await import('../primaryClient.js')
      const { createPool } = await import('../../lib/postgres.js')
      const { runFailover } = await import('../failover/index.js')
      const opts = program.opts<GlobalOptions>()
      if (opts.config === undefined)
        throw new XrcError('XRC_FAILOVER_REFUSED', { reason: 'noConfigFile', command: 'xrc failover' })
      const config = cliConfig(opts)
      const primary = configuredPrimary(config, flags.primary)
      if (!primary) throw new XrcError('XRC_USAGE', { reason: 'primaryUrlNeeded' })
      const { url } = primary
      const logger = commandLogger(opts, 'failover')
      const pool = createPool({ url: config.database.url, logger, max: 2 })
      const out = createProgressOutput(process.stderr)
      try {
        const report = await runFailover({
          config,
          configFile: opts.config,
          pool,
          logger,
          newSession: flags.newSession,
          ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}),
          ...(flags.schema !== undefined ? { schema: flags.schema } : {}),
          primaryUrl: url,
          force: flags.force === true,
          drainMs: flags.drainTimeout,
          onProgress: (line) => out.note(line),
        })
        out.end()
        if (flags.json) console.log(jsonLine(report))
        else printFailover(report)
      } finally {
        out.end()
        await pool.end()
      }
    })
}
