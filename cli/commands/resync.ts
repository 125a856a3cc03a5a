/**
 * `xrc suspend`, `xrc resume`, `xrc resync`, `xrc rollback`: the operator's
 * actions on a session's mirroring (producer/mirror/mirror.ts,
 * applier/resync/resyncImage.ts).
 *
 *   suspend   the primaries stop sending; writes go on, marked for resync
 *   resume    the primaries resync the marked blocks; follows the progress
 *   resync    after a lost journal or updates topic: copies only the blocks
 *             the change bitmaps name (cli/resync/reestablish.ts)
 *   rollback  puts an inconsistent secondary back to its last consistent
 *             image (the primary was lost in the middle of a resync), and
 *             says so on the session's applied topic
 *
 * Each prints one line per primary (or one summary); with --json a JSON
 * object on the last line.
 */
import { InvalidArgumentError, Option, type Command } from 'commander'
import type { RollbackResult } from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import type { Logger } from '../../lib/logger.js'
import { parseDuration, parseUrl } from '../args.js'
import type { GlobalOptions } from '../context.js'
import { formatMs } from '../format.js'
import { createProgressOutput } from '../progress.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import type { ResyncOutcome } from '../resync/primaryApi.js'
import type { ReestablishResult } from '../resync/reestablish.js'

interface PrimaryFlags {
  primary?: string[]
  json?: boolean
}

interface FollowFlags extends PrimaryFlags {
  wait: boolean
  timeout: number
}

/** Collects repeated --primary URLs. */
function collectUrl(value: string, previous: string[] = []): string[] {
  try {
    return [...previous, parseUrl(value)]
  } catch (err) {
    throw err instanceof InvalidArgumentError ? err : new InvalidArgumentError(String(err))
  }
}

/** How long resume and resync follow the resync's progress. */
function timeoutOption(): Option {
  return new Option('--timeout <duration>', 'longest to follow the resync (it goes on after)')
    .argParser(parseDuration)
    .default(3_600_000, '1h')
}

const PRIMARY_HELP =
  "a primary's HTTP API; repeat for a session run by several primary processes (default: " +
  'http://127.0.0.1:<producer.apiPort>)'

/** What a followed resync did, over every primary. */
export interface ResyncSummary {
  primaries: number
  blocksResynced: number
  bytesSent: number
  staleCopies: number
  ms: number
}

export function summary(outcomes: readonly ResyncOutcome[], ms: number): ResyncSummary {
  return {
    primaries: outcomes.length,
    blocksResynced: outcomes.reduce((n, o) => n + (o.mirror.resync?.blocksSent ?? 0), 0),
    bytesSent: outcomes.reduce((n, o) => n + (o.mirror.resync?.bytesSent ?? 0), 0),
    staleCopies: outcomes.reduce((n, o) => n + (o.mirror.resync?.staleCopies ?? 0), 0),
    ms,
  }
}

/** The commands of this file, in the order `xrc --help` lists them. */
const COMMANDS: readonly ((program: Command) => void)[] = [
  suspendCommand,
  resumeCommand,
  resyncCommand,
  rollbackCommand,
]

export function registerResyncCommands(program: Command): void {
  for (const define of COMMANDS) define(program)
}

function suspendCommand(program: Command): void {
  program
    .command('suspend')
    .description(
      'suspend the session: the primaries stop sending to Kafka; host writes go on, their blocks marked for resync',
    )
    .option('--primary <url>', PRIMARY_HELP, collectUrl)
    .option('--json', "print the primaries' mirror states as one JSON object")
    .action((flags: PrimaryFlags) => suspend(program.opts<GlobalOptions>(), flags))
}

async function suspend(global: GlobalOptions, flags: PrimaryFlags): Promise<void> {
  const { cliConfig } = await import('../context.js')
  const { describeMirror, primaryEndpoints, suspendPrimary } = await import('../resync/primaryApi.js')
  const config = cliConfig(global)
  const primaries = primaryEndpoints(flags.primary, config)
  const states = []
  for (const primary of primaries) {
    const m = await suspendPrimary(primary)
    states.push({ url: primary.url, mirror: m })
    if (!flags.json) console.log(describeMirror(primary.url, m))
  }
  if (flags.json) console.log(JSON.stringify({ suspended: states }))
}

function resumeCommand(program: Command): void {
  program
    .command('resume')
    .description(
      'resume a suspended session: the primaries resync the marked blocks (a progress bar on a ' +
        'terminal), then mirror as before',
    )
    .option('--primary <url>', PRIMARY_HELP, collectUrl)
    .option('--no-wait', 'return once the resync started')
    .addOption(timeoutOption())
    .option('--json', 'print a JSON summary on the last line')
    .action((flags: FollowFlags) => resume(program.opts<GlobalOptions>(), flags))
}

async function resume(global: GlobalOptions, flags: FollowFlags): Promise<void> {
  const { cliConfig } = await import('../context.js')
  const { describeMirror, followResync, primaryEndpoints, resumePrimary } = await import('../resync/primaryApi.js')
  const config = cliConfig(global)
  const primaries = primaryEndpoints(flags.primary, config)
  const started = Date.now()
  for (const primary of primaries) {
    const m = await resumePrimary(primary)
    if (!flags.json) console.log(describeMirror(primary.url, m))
  }
  if (!flags.wait) return
  const outcomes = await followResync(primaries, createProgressOutput(process.stderr), flags.timeout)
  const s = summary(outcomes, Date.now() - started)
  console.log(flags.json ? JSON.stringify(s) : resumedLine(s))
}

export function resumedLine(s: ResyncSummary): string {
  return (
    `resync complete: ${s.blocksResynced} blocks in ${formatMs(s.ms)}; the secondary is ` +
    `consistent again once it applies the groups after it`
  )
}

function resyncCommand(program: Command): void {
  program
    .command('resync')
    .description(
      'after the journal or updates topic was lost: copy to the secondary only the blocks the ' +
        'change bitmaps name, not whole volumes',
    )
    .option('--primary <url>', PRIMARY_HELP, collectUrl)
    .option('--no-wait', 'return once the resync started')
    .addOption(timeoutOption())
    .option('--json', 'print a JSON summary on the last line')
    .addHelpText(
      'after',
      `
Stop the mover and the applier first (the command checks). It suspends the
primaries and marks the blocks written since the secondary's last confirmed
consistency time, deletes what is left of the session's topics, rebases the
secondary on a new journal (it keeps its image, marked inconsistent until
the resync is applied; xrc rollback returns to it), and resumes the
primaries. Then start the mover and the applier again.`,
    )
    .action((flags: FollowFlags) => resync(program.opts<GlobalOptions>(), flags))
}

async function resync(global: GlobalOptions, flags: FollowFlags): Promise<void> {
  const { cliConfig, commandLogger } = await import('../context.js')
  const { followResync, primaryEndpoints } = await import('../resync/primaryApi.js')
  const { reestablish } = await import('../resync/reestablish.js')
  const { createKafkaClient } = await import('../../lib/kafka/index.js')
  const { createPool } = await import('../../lib/postgres.js')
  const config = cliConfig(global)
  const logger = commandLogger(global, 'xrc-resync')
  const primaries = primaryEndpoints(flags.primary, config)
  const kafka = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: `${config.kafka.clientId}-resync`,
    logger,
  })
  const pool = createPool({ url: config.database.url, logger, max: 2, applicationName: 'xrc-resync' })
  const started = Date.now()
  try {
    const say = flags.json ? () => undefined : (line: string) => console.log(line)
    const r = await reestablish({ config, kafka, pool, primaries, logger, say })
    say(copyingLine(r))
    const outcomes = flags.wait
      ? await followResync(primaries, createProgressOutput(process.stderr), flags.timeout)
      : []
    const s = {
      ...summary(outcomes, Date.now() - started),
      blocksMarked: r.blocks,
      volumeBlocks: r.volumeBlocks,
      secondaryGroup: r.secondary.groupSeq,
    }
    console.log(flags.json ? JSON.stringify(s) : resyncedLine(r, flags.wait))
  } finally {
    await pool.end()
  }
}

/** What the resync copies, once the primaries resumed. */
export function copyingLine(r: Pick<ReestablishResult, 'blocks' | 'volumeBlocks'>): string {
  return (
    `copying ${r.blocks} blocks of ${r.volumeBlocks} ` +
    `(${((100 * r.blocks) / Math.max(1, r.volumeBlocks)).toFixed(1)}% of the volumes); start the ` +
    `mover and the applier`
  )
}

export function resyncedLine(r: Pick<ReestablishResult, 'blocks' | 'volumeBlocks'>, waited: boolean): string {
  return (
    `resync ${waited ? 'complete' : 'started'}: ${r.blocks} blocks of ${r.volumeBlocks} copied, ` + `not whole volumes`
  )
}

function rollbackCommand(program: Command): void {
  program
    .command('rollback')
    .description(
      'roll an inconsistent secondary (a resync was being applied when the primary was lost) back' +
        ' to its last consistent image',
    )
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      '\nStop the applier first (the command checks). The applier applies nothing more ' +
        'afterwards: the secondary stays the image it was rolled back to.',
    )
    .action((flags: { json?: boolean }) => rollback(program.opts<GlobalOptions>(), flags))
}

async function rollback(global: GlobalOptions, flags: { json?: boolean }): Promise<void> {
  const { cliConfig, commandLogger } = await import('../context.js')
  const { checkServicesStopped } = await import('../resync/reestablish.js')
  const { rollbackSecondary, storeTables } = await import('../../applier/index.js')
  const { createPool } = await import('../../lib/postgres.js')
  const config = cliConfig(global)
  const logger = commandLogger(global, 'xrc-rollback')
  const pool = createPool({ url: config.database.url, logger, max: 2, applicationName: 'xrc-rollback' })
  try {
    await checkServicesStopped(pool, config.session.name)
    const r = await rollbackSecondary(
      pool,
      storeTables(config.applier.schema),
      config.applier.schema,
      config.session.name,
    )
    const told = await publishRollback(config, logger, r)
    if (!told) logger.warn('the rollback was not published on the applied topic (Kafka out of reach)')
    console.log(flags.json ? JSON.stringify(r) : rolledBackLine(r))
  } finally {
    await pool.end()
  }
}

/**
 * The image went back: a primary still following the applied topic hears it (Kafka may be gone with the primary's
 * site; the rollback stands without it, and what the primary heard before was true then). False when not told.
 */
async function publishRollback(config: Config, logger: Logger, r: RollbackResult): Promise<boolean> {
  const { appliedNote, publishAppliedOnce } = await import('../../applier/index.js')
  const { createKafkaClient } = await import('../../lib/kafka/index.js')
  const mark = r.groupSeq === 0 || r.groupTime === undefined ? undefined : { ...r, groupTime: r.groupTime }
  return publishAppliedOnce({
    kafka: createKafkaClient({
      connection: config.kafka,
      library: config.kafka.client,
      clientId: `${config.kafka.clientId}-rollback`,
      logger,
    }),
    topic: sessionTopics(config.session.name).applied,
    registry: config.schemaRegistry,
    secondary: config.applier.schema,
    logger,
    note: appliedNote(config.session.name, config.applier.schema, mark, {
      state: 'rolled-back',
      consistentGroup: { groupSeq: r.groupSeq, groupTime: r.groupTime },
      retainedVersions: 0,
    }),
    timeoutMs: 5000,
  })
}

export function rolledBackLine(r: RollbackResult): string {
  return (
    `rolled back to group ${r.groupSeq}` +
    (r.groupTime !== undefined ? ` (consistency time ${r.groupTime})` : ' (an empty image)') +
    `: ${r.blocksRestored} blocks put back, ${r.groupsUndone} groups undone`
  )
}
