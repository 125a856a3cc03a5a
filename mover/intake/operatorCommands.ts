/**
 * The operator's way to resume a frozen controller (see schemas/control.ts):
 * `requestResume` writes a resume command to the session's control topic;
 * the mover follows the topic from its start with `createCommandFeed` and
 * keeps every decision by the record it names.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import { createPartitionReader, type PartitionReader } from '../../lib/kafka/index.js'
import {
  connectIdempotentProducer,
  controlTopicSpec,
  ensureTopic,
  sendWhole,
  type TopicReplication,
} from '../../lib/kafka/index.js'
import { decodeCommand, encodeCommand, resumeKey, type ResumeCommand } from '../../schemas/control.js'
import { errorMessage } from '../../lib/errors.js'

export interface CommandFeed {
  /** Creates the control topic when missing and follows it from its start. */
  start(): Promise<void>
  stop(): Promise<void>
  /** The operator's decision for the record at (partition, offset), if one was made. */
  decision(partition: number, offset: number): ResumeCommand | undefined
}

export function createCommandFeed(options: {
  kafka: KafkaClient
  session: string
  topic: string
  replication?: TopicReplication
  logger: Logger
  groupPrefix: string
  onResume: (command: ResumeCommand) => void
}): CommandFeed {
  const log = options.logger.child({ component: 'operator-commands', topic: options.topic })
  const decisions = new Map<string, ResumeCommand>()
  let reader: PartitionReader | undefined
  return {
    async start() {
      const admin = options.kafka.admin()
      await admin.connect()
      try {
        await ensureTopic(admin, controlTopicSpec(options.topic), log, options.replication)
      } finally {
        await admin.disconnect()
      }
      reader = createPartitionReader({
        kafka: options.kafka,
        topic: options.topic,
        isolation: 'read_committed',
        groupPrefix: options.groupPrefix,
        logger: options.logger,
        onCrash: (err) =>
          log.error(
            { err },
            'the control topic reader failed: operator commands are not seen until the mover restarts',
          ),
        onBatch: async (batch) => {
          for (const m of batch.messages) {
            let command: ResumeCommand
            try {
              command = decodeCommand(m.value, `${options.topic} offset ${m.offset}`)
            } catch (err) {
              // a stray record on the control topic is no reason to stop mirroring
              log.warn({ offset: m.offset, err: errorMessage(err) }, 'ignored a record that is not an operator command')
              continue
            }
            if (command.session !== options.session) {
              log.warn({ offset: m.offset, session: command.session }, 'ignored a command for another session')
              continue
            }
            decisions.set(resumeKey(command.partition, command.offset), command)
            log.info({ ...command }, 'operator command received')
            options.onResume(command)
          }
        },
      })
      await reader.start()
    },
    async stop() {
      await reader?.stop()
      reader = undefined
    },
    decision: (partition, offset) => decisions.get(resumeKey(partition, offset)),
  }
}

/** Writes a resume command to the session's control topic (created when missing); resolves once it is on the topic. */
export async function requestResume(options: {
  kafka: KafkaClient
  topic: string
  command: ResumeCommand
  replication?: TopicReplication
  logger: Logger
}): Promise<void> {
  const admin = options.kafka.admin()
  await admin.connect()
  try {
    await ensureTopic(admin, controlTopicSpec(options.topic), options.logger, options.replication)
  } finally {
    await admin.disconnect()
  }
  const producer = await connectIdempotentProducer(options.kafka)
  try {
    const c = options.command
    // a control topic has one partition (controlTopicSpec): commands are read in order
    await sendWhole(producer, options.topic, [
      { partition: 0, key: resumeKey(c.partition, c.offset), value: encodeCommand(c), headers: {} },
    ])
  } finally {
    await producer.close()
  }
}
