/**
 * `xrc audit`: the auditing consumer (cli/audit/runAudit.ts). One JSON line
 * per record set, group or dead letter on stdout; a closing summary on
 * stderr, so stdout stays pure JSON lines for jq and friends.
 */
import { Command, Option } from 'commander'
import { integerArg, parseTime } from '../args.js'
import type { AuditTopic } from '../audit/runAudit.js'
import type { GlobalOptions } from '../context.js'
import { jsonLine } from '../format.js'

interface AuditFlags {
  topic: AuditTopic
  fromOffset?: number
  fromTime?: number
  partition?: number[]
  limit?: number
  follow?: boolean
  eachUpdate?: boolean
}

function collectPartition(value: string, previous: number[] | undefined): number[] {
  return [...(previous ?? []), integerArg(0, 1023)(value)]
}

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description(
      'read a session topic from an offset or a time and print one JSON line per record set, ' +
        'group or dead letter (payloads summarised)',
    )
    .addOption(
      new Option('-t, --topic <topic>', 'which topic of the session')
        .choices(['updates', 'journal', 'dlq'])
        .default('journal'),
    )
    .addOption(
      new Option('--from-offset <offset>', 'start at this offset in each partition (default: the earliest retained)')
        .argParser(integerArg(0))
        .conflicts('fromTime'),
    )
    .option(
      '--from-time <time>',
      'start at the first record written at or after this time (ISO 8601, or ms/µs since the epoch)',
      parseTime,
    )
    .option(
      '-p, --partition <id>',
      'read only this partition (updates: the controller id); repeatable',
      collectPartition,
    )
    .option('-n, --limit <n>', 'stop after n lines', integerArg(1))
    .option('-f, --follow', 'keep reading new records until Ctrl-C (default: stop at the end as of the start)')
    .option('--each-update', 'list every update (volume, block, seq, time, bytes, digest; never the data)')
    .addHelpText(
      'after',
      `
Values are decoded as any Confluent-wire-format Avro consumer would: the
writer's schema is fetched from the schema registry by the id in the value.
Journal records are joined into whole groups. Reading is read_committed.
Lines: {"topic","partition","offset","timestamp","schemaId", header fields...,
"updates","bytes","volumes":{...},"sha256"}; undecodable values give a line
with "error" and the audit goes on.`,
    )
    .action(async (flags: AuditFlags) => {
      const { cliConfig, commandLogger } = await import('../context.js')
      const { runAudit } = await import('../audit/runAudit.js')
      const config = cliConfig(program.opts<GlobalOptions>())
      const logger = commandLogger(program.opts<GlobalOptions>(), 'xrc-audit').child({ session: config.session.name })
      const stop = new AbortController()
      const onSigint = (): void => stop.abort()
      process.on('SIGINT', onSigint)
      try {
        const summary = await runAudit({
          config,
          topic: flags.topic,
          ...(flags.fromOffset !== undefined ? { fromOffset: flags.fromOffset } : {}),
          ...(flags.fromTime !== undefined ? { fromTimeMs: Math.floor(flags.fromTime / 1000) } : {}),
          ...(flags.partition ? { partitions: flags.partition } : {}),
          ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
          follow: flags.follow === true,
          eachUpdate: flags.eachUpdate === true,
          write: (value) => process.stdout.write(`${jsonLine(value)}\n`),
          logger,
          signal: stop.signal,
        })
        const range = Object.entries(summary.from)
          .map(([p, f]) => `partition ${p} from offset ${f}${summary.to ? ` up to ${summary.to[p] ?? '?'}` : ''}`)
          .join(', ')
        const how = summary.note ?? `${range}${summary.stoppedByLimit ? `; stopped at --limit ${flags.limit}` : ''}`
        process.stderr.write(
          `audit: ${summary.lines} lines from ${summary.topic} (${how}), ${summary.errors} undecodable\n`,
        )
      } finally {
        process.off('SIGINT', onSigint)
        logger.flush()
      }
    })
}
