/**
 * The operator action that resumes a frozen controller (`xrc session
 * resume`). The dead-letter topic says where each controller froze (its
 * last record with action `frozen`); a resume command naming that record
 * goes to the control topic, where the mover picks it up (also after a
 * restart). What the operator chooses:
 *
 * - without discardMissing: the frozen record is set aside and the
 *   controller must go on at the seq it expected. Right when the record did
 *   not belong to the stream (written by something else, or a corrupt copy
 *   of a record the producer sent again). If seqs really are missing the
 *   controller freezes again at the next record: nothing is ever lost
 *   silently.
 * - with discardMissing: the operator accepts that the controller's seqs
 *   up to its next record set are lost (a gap's own record is then taken).
 *   The mover logs and reports the discarded seqs
 *   (xrc_mover_discarded_seqs_total, status().discarded); the secondary
 *   lacks those writes until their volumes are resynced.
 */
import { userInfo } from 'node:os'
import type { KafkaClient } from '../../lib/kafka/index.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { ResumeCommand } from '../../schemas/control.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { readDeadLetters, summarizeDeadLetters } from './deadLetters.js'
import type { TopicReplication } from '../../lib/kafka/index.js'
import { requestResume } from './operatorCommands.js'

export interface ResumeRequest {
  kafka: KafkaClient
  session: string
  logger: Logger
  /** topics.*: replication of the control topic if it is created here. */
  replication?: TopicReplication
  /** The controller to resume; all controllers with a freeze on record when absent. */
  controller?: number
  /** The updates offset it froze at; default: its last freeze in the dead-letter topic. Needs `controller`. */
  offset?: number
  discardMissing: boolean
  requestedBy?: string
}

/**
 * Writes a resume command per frozen controller; returns them.
 * Throws XRC_NOT_FOUND when no freeze is on record for the request.
 */
export async function resumeFrozen(request: ResumeRequest): Promise<ResumeCommand[]> {
  const topics = sessionTopics(request.session)
  let targets: { controller: number; offset: number }[]
  if (request.offset !== undefined) {
    if (request.controller === undefined) throw new XrcError('XRC_USAGE', { reason: 'resumeOffsetAlone' })
    targets = [{ controller: request.controller, offset: request.offset }]
  } else {
    const entries = await readDeadLetters({
      kafka: request.kafka,
      topic: topics.deadLetter,
      logger: request.logger,
      groupPrefix: `xrc.${request.session}.resume`,
    })
    const frozen = Object.values(summarizeDeadLetters(entries).lastFrozen)
    targets = frozen
      .filter((e) => request.controller === undefined || e.sourcePartition === request.controller)
      .map((e) => ({ controller: e.sourcePartition, offset: e.sourceOffset }))
    if (targets.length === 0) {
      const { session, controller } = request
      throw new XrcError(
        'XRC_NOT_FOUND',
        controller === undefined
          ? { reason: 'noFrozenController', session, topic: topics.deadLetter }
          : { reason: 'controllerNotFrozen', session, controller, topic: topics.deadLetter },
      )
    }
  }
  const requestedBy = request.requestedBy ?? safeUser()
  const commands = targets.map((t): ResumeCommand => ({
    command: 'resume',
    session: request.session,
    controller: t.controller,
    partition: t.controller,
    offset: t.offset,
    discardMissing: request.discardMissing,
    requestedAt: new Date().toISOString(),
    requestedBy,
  }))
  for (const command of commands)
    await requestResume({
      kafka: request.kafka,
      topic: topics.control,
      command,
      logger: request.logger,
      ...(request.replication ? { replication: request.replication } : {}),
    })
  return commands
}

function safeUser(): string {
  try {
    return userInfo().username
  } catch {
    return 'unknown'
  }
}
