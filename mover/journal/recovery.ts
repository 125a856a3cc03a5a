/**
 * Where a mover starts: the journal's last complete group says which group
 * comes next, what each controller has journaled, and where to read each
 * updates partition again (its marks). Record sets read again that the
 * journal already holds are dropped by (controller, seq) in the former.
 *
 * With an empty journal: the earliest offsets. So does a controller that
 * has no mark in the last group (added since).
 *
 * Committed offsets are not read any more. Movers of the older journal
 * format committed their input offsets with each group (sendOffsets); they
 * were read only when the journal held no group or the last group had no
 * mark for a controller. A journal of either format has the marks in its
 * last group (a marker, or the last part), so those offsets were reachable
 * only once the journal had been emptied (its topic deleted or its
 * retention passed), and since movers write markers they are never moved
 * again: they would point into the past of a journal that no longer
 * exists. `xrc resync` (cli/resync/reestablish.ts), the way to start again
 * after losing the journal, deletes them anyway.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { JournalRecord } from '../../schemas/journal.js'
import { moverGroupId } from '../../schemas/topicNames.js'
import type { FormerCheckpoint } from '../groups/index.js'
import { readJournalTail } from './journalTail.js'

export interface StartPoint {
  /** The last journaled group (undefined: none; the former starts fresh). */
  checkpoint: FormerCheckpoint | undefined
  /** Updates-topic offset to read from, per partition; a partition not named starts at its earliest offset. */
  offsets: Map<number, number>
  source: 'journal' | 'earliest'
  /** Journal offset of the last group's last part. */
  journalOffset?: number
}

export interface StartPointOptions {
  kafka: KafkaClient
  session: string
  journalTopic: string
  /** Configured controller ids (= updates partitions). */
  controllers: readonly number[]
  codec: AvroCodec<JournalRecord>
  logger: Logger
}

/** Finds the start point; call after the journal writer claimed the transactional id (see journalTail.ts). */
export async function findStartPoint(options: StartPointOptions): Promise<StartPoint> {
  const log = options.logger.child({ component: 'mover-recovery' })
  const tail = await readJournalTail({
    kafka: options.kafka,
    topic: options.journalTopic,
    session: options.session,
    codec: options.codec,
    logger: options.logger,
    groupPrefix: `${moverGroupId(options.session)}.tail`,
  })
  const configured = new Set(options.controllers)
  if (tail !== undefined) {
    const marked = new Set(tail.controllers.map((m) => m.controller))
    const stray = tail.controllers.filter((m) => !configured.has(m.controller)).map((m) => m.controller)
    if (stray.length > 0)
      log.warn(
        { controllers: stray },
        'the journal has marks of controllers no longer configured; their partitions are not read',
      )
    const offsets = new Map(
      tail.controllers.filter((m) => configured.has(m.controller)).map((m) => [m.controller, m.resumeOffset]),
    )
    const unmarked = options.controllers.filter((id) => !marked.has(id))
    if (unmarked.length > 0) {
      // controllers added since the last group: from the start of their partitions
      log.warn({ controllers: unmarked }, 'controllers without a journal mark start from their earliest offsets')
    }
    return {
      checkpoint: { groupSeq: tail.groupSeq, groupTime: tail.groupTime, controllers: tail.controllers },
      offsets,
      source: 'journal',
      journalOffset: tail.offset,
    }
  }
  return { checkpoint: undefined, offsets: new Map(), source: 'earliest' }
}
