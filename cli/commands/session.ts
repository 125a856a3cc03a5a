/**
 * `xrc session resume` and `xrc session dead-letters`: the operator's view
 * of bad input and the action that resumes a frozen controller (see
 * mover/intake/resume.ts for what each choice means).
 */
import type { Command } from 'commander'
import type { KafkaClient } from '../../lib/kafka/index.js'
import type { Config } from '../../lib/config.js'
import type { Logger } from '../../lib/logger.js'
import type { DeadLetterEntry, DeadLetterSummary } from '../../mover/index.js'
import type { ResumeCommand } from '../../schemas/control.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { integerArg } from '../args.js'
import type { GlobalOptions } from '../context.js'

interface ResumeFlags {
  controller?: number
  offset?: number
  discardMissing?: boolean
}

/** The subcommands of `xrc session`, in the order its help lists them. */
const COMMANDS: readonly ((session: Command, program: Command) => void)[] = [resumeCommand, deadLettersCommand]

export function registerSessionCommands(program: Command): void {
  const session = program.command('session').description("a session's bad input and the operator actions on it")
  for (const define of COMMANDS) define(session, program)
}

interface SessionContext {
  config: Config
  logger: Logger
  kafka: KafkaClient
}

/** The CLI's configuration, its logger and a Kafka client, as the session commands use them. */
async function sessionContext(program: Command): Promise<SessionContext> {
  const { cliConfig, cliLogger } = await import('../context.js')
  const { createKafkaClient } = await import('../../lib/kafka/index.js')
  const config = cliConfig(program.opts<GlobalOptions>())
  const logger = cliLogger(config, 'xrc-session')
  const kafka = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: `${config.kafka.clientId}-session`,
    logger,
  })
  return { config, logger, kafka }
}

function resumeCommand(session: Command, program: Command): void {
  session
    .command('resume')
    .description(
      'resume controllers the mover froze at a broken stream (a seq gap, a time regression, an invalid record)',
    )
    .option(
      '--controller <id>',
      'only this controller (default: every controller with a freeze on record)',
      integerArg(0, 1023),
    )
    .option(
      '--offset <n>',
      'the updates offset it froze at (default: its last freeze in the dead-letter topic)',
      integerArg(0),
    )
    .option(
      '--discard-missing',
      "accept that the controller's seqs missing before its next record set are lost (they are " +
        'reported; resync their volumes)',
    )
    .addHelpText(
      'after',
      `
Without --discard-missing the record the controller froze at is set aside
(it stays in the dead-letter topic) and the controller must go on at the
seq it expected: right for a record that is not the controller's. If seqs
really are missing, the controller freezes again at its next record.
With --discard-missing the missing seqs are given up for good: the mover
logs them and counts them in xrc_mover_discarded_seqs_total.
The command goes to the session's control topic; the running mover (or the
next one to start) applies it.`,
    )
    .action((opts: ResumeFlags) => resume(program, opts))
}

async function resume(program: Command, opts: ResumeFlags): Promise<void> {
  const { resumeFrozen } = await import('../../mover/index.js')
  const { config, logger, kafka } = await sessionContext(program)
  const commands = await resumeFrozen({
    kafka,
    session: config.session.name,
    logger,
    replication: config.topics,
    ...(opts.controller !== undefined ? { controller: opts.controller } : {}),
    ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
    discardMissing: opts.discardMissing === true,
  })
  for (const c of commands) console.log(resumeSentLine(c))
}

export function resumeSentLine(c: ResumeCommand): string {
  return (
    `resume controller ${c.controller} at updates offset ` +
    `${c.offset}${c.discardMissing ? ', discarding its missing seqs' : ''}: sent to ` +
    `${sessionTopics(c.session).control}`
  )
}

function deadLettersCommand(session: Command, program: Command): void {
  session
    .command('dead-letters')
    .description(
      "the session's dead-lettered records: where each was read, its error code and message, and what the mover did",
    )
    .option('--json', 'one JSON object per record, then a summary object')
    .action((opts: { json?: boolean }) => deadLetters(program, opts))
}

async function deadLetters(program: Command, opts: { json?: boolean }): Promise<void> {
  const { readDeadLetters, summarizeDeadLetters } = await import('../../mover/index.js')
  const { config, logger, kafka } = await sessionContext(program)
  const topic = sessionTopics(config.session.name).deadLetter
  const entries = await readDeadLetters({
    kafka,
    topic,
    logger,
    groupPrefix: `xrc.${config.session.name}.dead-letters`,
  })
  const summary = summarizeDeadLetters(entries)
  const lines = opts.json ? deadLettersJson(entries, summary) : deadLettersText(entries, summary, topic)
  for (const line of lines) console.log(line)
}

/** One JSON object per record, then the summary. */
export function deadLettersJson(entries: readonly DeadLetterEntry[], summary: DeadLetterSummary): string[] {
  return [
    ...entries.map((e) => JSON.stringify(e)),
    JSON.stringify({
      summary: {
        records: summary.records,
        byCode: summary.byCode,
        byAction: summary.byAction,
        frozen: Object.values(summary.lastFrozen).map((e) => ({
          controller: e.sourcePartition,
          offset: e.sourceOffset,
          code: e.code,
        })),
      },
    }),
  ]
}

/** A line per record, the counts by code, and how to resume each frozen controller. */
export function deadLettersText(
  entries: readonly DeadLetterEntry[],
  summary: DeadLetterSummary,
  topic: string,
): string[] {
  const codes = Object.entries(summary.byCode).map(([c, n]) => `${c} ${n}`)
  return [
    ...entries.map(
      (e) =>
        `${e.timestamp} partition ${e.sourcePartition} offset ${e.sourceOffset} ${e.action.padEnd(7)} ` +
        `${e.code}: ${e.message}`,
    ),
    `${summary.records} records in ${topic}${codes.length > 0 ? `: ${codes.join(', ')}` : ''}`,
    ...Object.values(summary.lastFrozen).map(
      (e) =>
        `controller ${e.sourcePartition} froze at offset ${e.sourceOffset} [${e.code}]: \`xrc session ` +
        `resume --controller ${e.sourcePartition}\` resumes it`,
    ),
  ]
}
