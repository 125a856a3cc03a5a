/**
 * `xrc session resume` and `xrc session dead-letters`: the operator's view
 * of bad input and the action that resumes a frozen controller (see
 * mover/intake/resume.ts for what each choice means).
 */
import type { Command } from 'commander'
import { createKafka } from '../../lib/kafka/index.js'
import { readDeadLetters, summarizeDeadLetters } from '../../mover/index.js'
import { resumeFrozen } from '../../mover/index.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { integerArg } from '../args.js'
import { cliConfig, cliLogger, type GlobalOptions } from '../context.js'

export function registerSessionCommands(program: Command): void {
  const session = program.command('session').description("a session's bad input and the operator actions on it")

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
    .action(async (opts: { controller?: number; offset?: number; discardMissing?: boolean }) => {
      const config = cliConfig(program.opts<GlobalOptions>())
      const logger = cliLogger(config, 'xrc-session')
      const kafka = createKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-session`, logger })
      const commands = await resumeFrozen({
        kafka,
        session: config.session.name,
        logger,
        ...(opts.controller !== undefined ? { controller: opts.controller } : {}),
        ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
        discardMissing: opts.discardMissing === true,
      })
      for (const c of commands) {
        console.log(
          `resume controller ${c.controller} at updates offset ` +
            `${c.offset}${c.discardMissing ? ', discarding its missing seqs' : ''}: sent to ` +
            `${sessionTopics(c.session).control}`,
        )
      }
    })

  session
    .command('dead-letters')
    .description(
      "the session's dead-lettered records: where each was read, its error code and message, and what the mover did",
    )
    .option('--json', 'one JSON object per record, then a summary object')
    .action(async (opts: { json?: boolean }) => {
      const config = cliConfig(program.opts<GlobalOptions>())
      const logger = cliLogger(config, 'xrc-session')
      const kafka = createKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-session`, logger })
      const topic = sessionTopics(config.session.name).deadLetter
      const entries = await readDeadLetters({
        kafka,
        topic,
        logger,
        groupPrefix: `xrc.${config.session.name}.dead-letters`,
      })
      const summary = summarizeDeadLetters(entries)
      if (opts.json) {
        for (const e of entries) console.log(JSON.stringify(e))
        console.log(
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
        )
        return
      }
      for (const e of entries)
        console.log(
          `${e.timestamp} partition ${e.sourcePartition} offset ${e.sourceOffset} ${e.action.padEnd(7)} ` +
            `${e.code}: ${e.message}`,
        )
      console.log(
        `${summary.records} records in ${topic}${
          Object.keys(summary.byCode).length > 0
            ? `: ${Object.entries(summary.byCode)
                .map(([c, n]) => `${c} ${n}`)
                .join(', ')}`
            : ''
        }`,
      )
      for (const e of Object.values(summary.lastFrozen))
        console.log(
          `controller ${e.sourcePartition} froze at offset ${e.sourceOffset} [${e.code}]: \`xrc session ` +
            `resume --controller ${e.sourcePartition}\` resumes it`,
        )
    })
}
