/**
 * Where a mover starts: the journal's last complete group says which group
 * comes next, what each controller has journaled, and where to read each
 * updates partition again (its marks). Record sets read again that the
 * journal already holds are dropped by (controller, seq) in the former.
 *
 * With an empty journal: the offsets committed under the mover's group
 * (sendOffsets, in the same transactions as the groups), else the earliest
 * offsets.
 */
import type { Kafka } from 'kafkajs'
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
  source: 'journal' | 'committed-offsets' | 'earliest'
  /** Journal offset of the last group's last part. */
  journalOffset?: number
}

export interface StartPointOptions {
  kafka: Kafka
  session: string
  journalTopic: string
  updatesTopic: string
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
      // controllers added since the last group: from their committed offsets, else the start
      const committed = await committedOffsets(options)
      for (const id of unmarked) {
        const o = committed.get(id)
        if (o !== undefined) offsets.set(id, o)
      }
      log.warn(
        { controllers: unmarked },
        'controllers without a journal mark start from their committed or earliest offsets',
      )
    }
    return {
      checkpoint: { groupSeq: tail.groupSeq, groupTime: tail.groupTime, controllers: tail.controllers },
      offsets,
      source: 'journal',
      journalOffset: tail.offset,
    }
  }
  const committed = await committedOffsets(options)
  const offsets = new Map([...committed].filter(([p]) => configured.has(p)))
  return { checkpoint: undefined, offsets, source: offsets.size > 0 ? 'committed-offsets' : 'earliest' }
}

/** Offsets committed under the mover's group id (-1, none, left out). */
async function committedOffsets(options: StartPointOptions): Promise<Map<number, number>> {
  const admin = options.kafka.admin()
  await admin.connect()
  try {
    const [topic] = await admin.fetchOffsets({ groupId: moverGroupId(options.session), topics: [options.updatesTopic] })
    return new Map(
      (topic?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, Number(p.offset)]),
    )
  } finally {
    await admin.disconnect()
  }
}
