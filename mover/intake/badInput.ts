/**
 * The mover's side of bad input, apart from the intake that detects it: the
 * dead-letter topic (written once per record in a process, counted by code
 * in metrics and status), the operator's decisions from the control topic,
 * and what is reported when a controller freezes or an operator discards
 * seqs. One per mover; it outlives the pipeline's restarts.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import type { TopicReplication } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import type { ResumeCommand } from '../../schemas/control.js'
import { moverGroupId, type SessionTopics } from '../../schemas/topicNames.js'
import { XrcError } from '../../lib/errors.js'
import { createDeadLetterWriter, type DeadLetter, type DeadLetterWriter } from './deadLetters.js'
import type { DiscardedSeqs } from '../groups/index.js'
import type { MoverMetrics } from '../moverMetrics.js'
import { createCommandFeed, type CommandFeed } from './operatorCommands.js'
import { frozenMessage, type FrozenController } from './updatesIntake.js'

export interface BadInputDesk {
  /** Creates the dead-letter and control topics when missing, connects, and follows the control topic. */
  open(): Promise<void>
  close(): Promise<void>
  deadLetter(letter: DeadLetter): Promise<void>
  decision(partition: number, offset: number): ResumeCommand | undefined
  frozen(f: FrozenController, frozenNow: number): void
  discarded(d: DiscardedSeqs, command: ResumeCommand): void
  /** A group journaled: records before its marks are never read again. */
  journaled(marks: readonly { controller: number; resumeOffset: number }[]): void
  counts(): { deadLettered: Record<string, number>; discarded: (DiscardedSeqs & { requestedBy: string })[] }
}

export function createBadInputDesk(options: {
  kafka: KafkaClient
  session: string
  topics: SessionTopics
  maxRecordSetBytes: number
  replication: TopicReplication
  metrics: MoverMetrics
  logger: Logger
  log: Logger
  onResume: (command: ResumeCommand) => void
}): BadInputDesk {
  const { metrics, log } = options
  const deadLettered: Record<string, number> = {}
  const discarded: (DiscardedSeqs & { requestedBy: string })[] = []
  let writer: DeadLetterWriter | undefined
  let commands: CommandFeed | undefined
  return {
    async open() {
      writer = createDeadLetterWriter({
        kafka: options.kafka,
        session: options.session,
        topic: options.topics.deadLetter,
        sourceTopic: options.topics.updates,
        maxRecordSetBytes: options.maxRecordSetBytes,
        replication: options.replication,
        logger: options.logger,
      })
      await writer.open()
      commands = createCommandFeed({
        kafka: options.kafka,
        session: options.session,
        topic: options.topics.control,
        replication: options.replication,
        logger: options.logger,
        groupPrefix: `${moverGroupId(options.session)}.control`,
        onResume: options.onResume,
      })
      await commands.start()
    },
    async close() {
      await commands?.stop().catch((err: unknown) => log.warn({ err }, 'stopping the control topic reader failed'))
      await writer?.close()
    },
    async deadLetter(letter) {
      if (writer === undefined) throw new XrcError('XRC_CLOSED', { reason: 'stopped', component: 'the mover' })
      if (!(await writer.write(letter))) return // met again after a restart: written and counted before
      deadLettered[letter.code] = (deadLettered[letter.code] ?? 0) + 1
      metrics.deadLettered.inc({ code: letter.code })
    },
    decision: (partition, offset) => commands?.decision(partition, offset),
    frozen(f, frozenNow) {
      metrics.frozenControllers.set(frozenNow)
      metrics.halted.set(1)
      log.error(
        {
          code: 'XRC_CONTROLLER_FROZEN',
          cause: f.code,
          controller: f.controller,
          partition: f.partition,
          offset: f.offset,
          expectedSeq: f.expectedSeq,
        },
        frozenMessage(f),
      )
    },
    discarded(d, command) {
      discarded.push({ ...d, requestedBy: command.requestedBy })
      log.error(
        { ...d, requestedBy: command.requestedBy },
        `controller ${d.controller}: seqs ${d.firstSeq}..${d.lastSeq} discarded by the operator: ` +
          'those writes are not on the secondary (resync their volumes)',
      )
    },
    journaled(marks) {
      for (const m of marks) writer?.forgetBelow(m.controller, m.resumeOffset)
    },
    counts: () => ({ deadLettered: { ...deadLettered }, discarded: [...discarded] }),
  }
}
