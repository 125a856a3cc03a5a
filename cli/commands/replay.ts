/**
 * `xrc replay`: rebuilds a secondary from the session's journal, to the
 * journal's end, a past consistency time or a past group, starting from the
 * newest snapshot of the source secondary at or before the target when one
 * exists (else from group 1), with a progress bar and a summary.
 * `--window` says which groups can be recovered. The plan is
 * applier/recoveryPlan.ts's; applier/replay.ts does the work (the same
 * reads, order checks and transactions as the applier).
 */
import { Option, type Command } from 'commander'
import type { ReplaySummary } from '../../applier/index.js'
import type { JournalReach, RecoveryBase, RecoveryTarget, SnapshotBase } from '../../applier/recoveryPlan.js'
import type { Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { integerArg, parseSchemaName, parseTime } from '../args.js'
import type { GlobalOptions } from '../context.js'
import { formatMs, isoMicros, jsonLine } from '../format.js'
import { createProgressOutput, progressBar } from '../progress.js'

interface ReplayFlags {
  into?: string
  from?: string
  toTime?: number
  toGroup?: number
  window?: boolean
  snapshots: boolean
  replace?: boolean
  json?: boolean
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description(
      'rebuild a secondary from the journal, to its end or to a past group or time (point-in-time recovery), ' +
        'starting from the newest snapshot at or before it',
    )
    .option(
      '--into <schema>',
      "PostgreSQL schema to rebuild into (default: the session's, applier.schema)",
      parseSchemaName,
    )
    .option(
      '--from <schema>',
      "the secondary whose snapshots and history the recovery starts from (default: the session's, applier.schema)",
      parseSchemaName,
    )
    .addOption(
      new Option(
        '--to-time <time>',
        'stop after the last group with consistency time <= this (ISO 8601, or ms/µs since the epoch)',
      )
        .argParser(parseTime)
        .conflicts('toGroup'),
    )
    .option('--to-group <n>', 'stop after this group', integerArg(1))
    .option('--no-snapshots', 'start from group 1 even where a snapshot would shorten the replay')
    .option('--window', 'print the recovery window (the groups a replay can rebuild) and exit')
    .option('--replace', 'drop the target schema first when it already holds groups (stop its applier first)')
    .option('--json', 'print the summary as one JSON object (progress goes to stderr)')
    .addHelpText(
      'after',
      `
The target must hold no applied group: replay rebuilds, it does not merge.
To recover a copy as of a past time or group while the session runs on:
  xrc replay --into xrc_demo_copy --to-time 2025-05-01T12:00:00Z
  xrc replay --into xrc_demo_copy --to-group 1200
then export from it: xrc volume export vol0 vol0.img --schema xrc_demo_copy
A target outside the window is refused, naming the window (xrc replay --window).`,
    )
    .action(async (flags: ReplayFlags) => {
      const { cliConfig, commandLogger } = await import('../context.js')
      const { createPool } = await import('../../lib/postgres.js')
      const { checkPostgres } = await import('../../stack/postgres.js')
      const { requireKafka, requireRegistry, requireTopic } = await import('../ensureStack.js')
      const opts = program.opts<GlobalOptions>()
      const config = cliConfig(opts)
      const logger = commandLogger(opts, 'xrc-replay')
      const pool = createPool({ url: config.database.url, logger, max: 3, applicationName: 'xrc-replay' })
      try {
        await requireKafka(config)
        await requireRegistry(config)
        await checkPostgres(config.database.url, 5000)
        await requireTopic(config, sessionTopics(config.session.name).journal, logger)
        if (flags.window === true) await printWindow(config, logger, pool, flags)
        else await runReplay(config, logger, pool, flags)
      } finally {
        await pool.end()
        logger.flush()
      }
    })
}

/** The source secondary's snapshots (none with --no-snapshots) and the journal's reach. */
async function recoveryInputs(
  config: Config,
  logger: Logger,
  pool: Pool,
  flags: ReplayFlags,
): Promise<{ reach: JournalReach; gaps: string[]; bases: SnapshotBase[]; source: string }> {
  const { readJournalReach, snapshotBases } = await import('../replay/recoveryInputs.js')
  const source = flags.from ?? config.applier.schema
  const [{ reach, gaps }, bases] = await Promise.all([
    readJournalReach(config, logger),
    flags.snapshots ? snapshotBases(pool, config, source) : Promise.resolve([]),
  ])
  return { reach, gaps, bases, source }
}

/** `--window`: the recoverable groups, in words or as JSON. */
async function printWindow(config: Config, logger: Logger, pool: Pool, flags: ReplayFlags): Promise<void> {
  const { describeWindow, recoveryWindow } = await import('../../applier/recoveryPlan.js')
  const { reach, gaps, bases, source } = await recoveryInputs(config, logger, pool, flags)
  const window = recoveryWindow(reach, bases)
  if (flags.json) {
    console.log(jsonLine({ source, ...window, journal: reach, gaps }))
    return
  }
  const lines = [`recovery window of session ${config.session.name}: ${describeWindow(window)}`]
  if (window.span !== undefined)
    lines.push(`  from T ${isoMicros(window.span.from.time)} to T ${isoMicros(window.span.to.time)}`)
  const named = bases.map((b) => `${b.name} (group ${b.groupSeq})`)
  lines.push(`  snapshots of ${source}: ${named.length === 0 ? 'none' : named.join(', ')}`)
  for (const gap of gaps) lines.push(`  note: ${gap}`)
  console.log(lines.join('\n'))
}

/** The replay itself: target resolved and planned, base seeded, then the journal applied to the target. */
async function runReplay(config: Config, logger: Logger, pool: Pool, flags: ReplayFlags): Promise<void> {
  const { replay } = await import('../../applier/index.js')
  const schema = flags.into ?? config.applier.schema
  const progress = createProgressOutput(flags.json ? process.stderr : process.stdout, { plainEveryMs: 2000 })
  const started = performance.now()
  try {
    const plan = await planReplay(config, logger, pool, flags)
    await prepareTarget(pool, schema, config.session.name, flags.replace === true, (line) => progress.note(line))
    progress.note(
      `replaying ${sessionTopics(config.session.name).journal} into schema ${schema}` +
        (plan.base.kind === 'snapshot'
          ? ` from snapshot "${plan.base.snapshot.name}" (group ${plan.base.snapshot.groupSeq})`
          : ' from group 1') +
        describeStop(flags),
    )
    const summary = await replay({
      config,
      logger,
      schema,
      pool,
      ...(plan.seed !== undefined ? { seed: plan.seed } : {}),
      ...(flags.toTime !== undefined ? { stopAtTime: flags.toTime } : {}),
      ...(flags.toGroup !== undefined ? { stopAtGroup: flags.toGroup } : {}),
      onProgress: (p) => {
        const fraction = p.journalEnd > 0 ? (p.journalOffset + 1) / p.journalEnd : 1
        progress.update(
          `${progressBar(fraction)}  group ${p.groupSeq}  T ${isoMicros(p.groupTime)}  ${p.groups} groups`,
        )
      },
    })
    progress.end()
    const ms = performance.now() - started
    if (flags.json) console.log(jsonLine({ schema, ...summary, ms: Math.round(ms) }))
    else printSummary(schema, summary, ms)
  } finally {
    progress.end()
  }
}

/** Where the replay starts (refusing a target outside the window) and how its base is seeded. */
async function planReplay(
  config: Config,
  logger: Logger,
  pool: Pool,
  flags: ReplayFlags,
): Promise<{ base: RecoveryBase; seed?: (schema: string) => Promise<void> }> {
  const { planRecovery } = await import('../../applier/recoveryPlan.js')
  const { resolveTarget, seedFromSnapshot } = await import('../replay/recoveryInputs.js')
  const { reach, bases, source } = await recoveryInputs(config, logger, pool, flags)
  const asked: RecoveryTarget | undefined =
    flags.toGroup !== undefined
      ? { group: flags.toGroup }
      : flags.toTime !== undefined
        ? { time: flags.toTime }
        : undefined
  // to the journal's end: plan for its newest group; with no group in it, the empty image as before
  const target = asked ?? (reach.newest !== undefined ? { group: reach.newest.seq } : undefined)
  if (target === undefined) return { base: { kind: 'empty' } }
  const resolved = await resolveTarget(pool, source, target)
  // a time before the first group: the empty image, nothing to apply
  if ('group' in resolved && resolved.group === 0) return { base: { kind: 'empty' } }
  const base = planRecovery(reach, bases, resolved)
  if (base.kind === 'empty') return { base }
  return { base, seed: (schema) => seedFromSnapshot(pool, config, source, base.snapshot.name, schema) }
}

function describeStop(flags: ReplayFlags): string {
  if (flags.toTime !== undefined) return ` up to T ${isoMicros(flags.toTime)}`
  if (flags.toGroup !== undefined) return ` up to group ${flags.toGroup}`
  return ' to its end'
}

/** Refuses a target holding groups unless --replace, which drops it. */
async function prepareTarget(
  pool: Pool,
  schema: string,
  session: string,
  replace: boolean,
  say: (line: string) => void,
): Promise<void> {
  const { storeTables } = await import('../../applier/index.js')
  const { ident } = await import('../../lib/postgres.js')
  const t = storeTables(schema)
  const exists = await pool.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [t.control])
  if (!exists.rows[0]?.r) return
  const held = await pool.query<{ group_seq: bigint }>(`SELECT group_seq FROM ${t.control} WHERE session = $1`, [
    session,
  ])
  const seq = Number(held.rows[0]?.group_seq ?? 0)
  if (seq === 0) return
  if (!replace) {
    throw new XrcError('XRC_USAGE', { reason: 'replayTargetNotEmpty', schema, groupSeq: seq })
  }
  await pool.query(`DROP SCHEMA ${ident(schema)} CASCADE`)
  say(`dropped schema ${schema} (it held group ${seq})`)
}

function printSummary(schema: string, s: ReplaySummary, ms: number): void {
  const lines = [
    `replayed ${s.groups} groups (${s.blocks.toLocaleString('en')} block updates) into schema ` +
      `${schema} in ${formatMs(ms)} (${Math.round(s.groups / Math.max(0.001, ms / 1000))} groups/s)`,
    ...(s.baseGroupSeq !== undefined ? [`  started from a snapshot of group ${s.baseGroupSeq}`] : []),
    `  last group   ${
      s.lastGroupSeq !== undefined && s.lastGroupTime !== undefined
        ? `${s.lastGroupSeq}, T ${isoMicros(s.lastGroupTime)}`
        : '- (no group was at or before the stop time)'
    }`,
    `  stopped by   ${
      s.stoppedBy === 'stop-time'
        ? 'the stop point (the next group is later)'
        : `the journal's end (offset ${s.journalEnd} when replay began)`
    }`,
  ]
  console.log(lines.join('\n'))
}
