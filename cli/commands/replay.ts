/**
 * `xrc replay`: rebuilds a secondary from the session's journal (from its
 * first group), to the journal's end or to a past consistency time, with a
 * progress bar and a summary (applier/replay.ts does the work: the same
 * reads, order checks and transactions as the applier).
 */
import type { Command } from 'commander'
import { replay, type ReplaySummary } from '../../applier/index.js'
import { storeTables } from '../../applier/index.js'
import { XrcError } from '../../lib/errors.js'
import { createPool, ident } from '../../lib/postgres.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { checkPostgres } from '../../stack/postgres.js'
import { parseSchemaName, parseTime } from '../args.js'
import { cliConfig, commandLogger, type GlobalOptions } from '../context.js'
import { requireKafka, requireRegistry, requireTopic } from '../ensureStack.js'
import { formatMs, isoMicros, jsonLine } from '../format.js'
import { createProgressOutput, progressBar } from '../progress.js'

interface ReplayFlags {
  into?: string
  toTime?: number
  replace?: boolean
  json?: boolean
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description(
      'rebuild a secondary from the journal, to its end or to a past consistency time (recover to a past group)',
    )
    .option(
      '--into <schema>',
      "PostgreSQL schema to rebuild into (default: the session's, applier.schema)",
      parseSchemaName,
    )
    .option(
      '--to-time <time>',
      'stop after the last group with consistency time <= this (ISO 8601, or ms/µs since the epoch)',
      parseTime,
    )
    .option('--replace', 'drop the target schema first when it already holds groups (stop its applier first)')
    .option('--json', 'print the summary as one JSON object (progress goes to stderr)')
    .addHelpText(
      'after',
      `
The target must hold no applied group: replay rebuilds, it does not merge.
To recover a copy as of a past time while the session runs on:
  xrc replay --into xrc_demo_copy --to-time 2025-05-01T12:00:00Z
then export from it: xrc volume export vol0 vol0.img --schema xrc_demo_copy`,
    )
    .action(async (flags: ReplayFlags) => {
      const config = cliConfig(program.opts<GlobalOptions>())
      const logger = commandLogger(program.opts<GlobalOptions>(), 'xrc-replay')
      const schema = flags.into ?? config.applier.schema
      const pool = createPool({ url: config.database.url, logger, max: 3, applicationName: 'xrc-replay' })
      const progress = createProgressOutput(flags.json ? process.stderr : process.stdout, { plainEveryMs: 2000 })
      const started = performance.now()
      try {
        await requireKafka(config)
        await requireRegistry(config)
        await checkPostgres(config.database.url, 5000)
        await requireTopic(config, sessionTopics(config.session.name).journal, logger)
        await prepareTarget(pool, schema, config.session.name, flags.replace === true, (line) => progress.note(line))
        progress.note(
          `replaying ${sessionTopics(config.session.name).journal} into schema ` +
            `${schema}${flags.toTime !== undefined ? ` up to T ${isoMicros(flags.toTime)}` : ' to its end'}`,
        )
        const summary = await replay({
          config,
          logger,
          schema,
          pool,
          ...(flags.toTime !== undefined ? { stopAtTime: flags.toTime } : {}),
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
        await pool.end()
        logger.flush()
      }
    })
}

/** Refuses a target holding groups unless --replace, which drops it. */
async function prepareTarget(
  pool: ReturnType<typeof createPool>,
  schema: string,
  session: string,
  replace: boolean,
  say: (line: string) => void,
): Promise<void> {
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
    `  last group   ${
      s.lastGroupSeq !== undefined && s.lastGroupTime !== undefined
        ? `${s.lastGroupSeq}, T ${isoMicros(s.lastGroupTime)}`
        : '- (no group was at or before the stop time)'
    }`,
    `  stopped by   ${
      s.stoppedBy === 'stop-time'
        ? 'the stop time (the next group is later)'
        : `the journal's end (offset ${s.journalEnd} when replay began)`
    }`,
  ]
  console.log(lines.join('\n'))
}
