/**
 * Replay from the journal: rebuilds a secondary from the journal's first
 * group into an empty schema, up to the journal's end or up to a
 * consistency time T (recover to a past group), as long as the journal
 * still retains group 1 and the updates topic the updates its markers name
 * (else XRC_UPDATES_GONE). It is the applier run to a goal: the same reads
 * (markers resolved against the updates topic), order checks and
 * transactions, so a replayed image is the applied image.
 */
import type { Kafka } from 'kafkajs'
import type { Registry } from 'prom-client'
import type { Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { Pool } from '../lib/postgres.js'
import type { AvroCodec } from '../schemas/codec.js'
import type { JournalRecord } from '../schemas/journal.js'
import { sessionTopics } from '../schemas/topicNames.js'
import { createKafka } from '../lib/kafka/index.js'
import { createApplier } from './applier.js'
import { JOURNAL_PARTITION } from './journal/index.js'

export interface ReplayOptions {
  config: Config
  logger: Logger
  /** Target schema; must hold no applied group. Default config.applier.schema. */
  schema?: string
  /** Consistency time T (microseconds): stop after the last group with groupTime <= T. */
  stopAtTime?: number
  /** After each group: groups applied so far and the journal offset replay runs to. */
  onProgress?: (progress: ReplayProgress) => void
  /** Longest wait for the journal's end, ms (default one hour). */
  timeoutMs?: number
  kafka?: Kafka
  pool?: Pool
  metrics?: Registry
  codec?: AvroCodec<JournalRecord>
}

export interface ReplayProgress {
  groups: number
  groupSeq: number
  groupTime: number
  journalOffset: number
  /** The journal's end (last stable offset) when replay began. */
  journalEnd: number
}

export interface ReplaySummary {
  /** Groups applied. */
  groups: number
  /** Consistency time of the last group applied; undefined when none was. */
  lastGroupTime: number | undefined
  lastGroupSeq: number | undefined
  /** Block updates applied. */
  blocks: number
  /** 'stop-time': the next group was after T (or at T). 'journal-end': the journal ran out first. */
  stoppedBy: 'stop-time' | 'journal-end'
  journalEnd: number
}

/**
 * Replays the session's journal into an empty secondary. Throws XRC_USAGE
 * when the schema already holds applied groups, and the applier's halt error
 * (XRC_GROUP_OUT_OF_ORDER when the journal no longer starts at group 1,
 * XRC_DECODE_FAILED, ...) when replay cannot go on.
 */
export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  let groups = 0
  let blocks = 0
  let journalEnd = 0
  const { config } = options
  const kafka =
    options.kafka ??
    createKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-replay`, logger: options.logger })
  const applier = createApplier({
    config,
    logger: options.logger,
    kafka,
    createJournalTopic: false,
    // a recovery tool: the service applier tells the primary once it runs
    publishApplied: false,
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
    ...(options.stopAtTime !== undefined ? { stopAtTime: options.stopAtTime } : {}),
    ...(options.pool ? { pool: options.pool } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.codec ? { codec: options.codec } : {}),
    onGroup: (e) => {
      if (e.outcome !== 'applied') return
      groups++
      blocks += e.updates
      options.onProgress?.({
        groups,
        groupSeq: e.groupSeq,
        groupTime: e.groupTime,
        journalOffset: e.journalOffset,
        journalEnd,
      })
    },
  })
  const log = options.logger.child({
    component: 'replay',
    session: options.config.session.name,
    schema: applier.store.schema,
  })
  try {
    await applier.store.init()
    const held = await applier.store.lastApplied()
    if (held !== undefined) {
      throw new XrcError('XRC_USAGE', {
        reason: 'replayTargetNotEmptySchema',
        schema: applier.store.schema,
        groupSeq: held.groupSeq,
        groupTime: String(held.groupTime),
        session: options.config.session.name,
      })
    }
    // replay runs to the end the journal has now; groups committed later are the applier's job
    journalEnd = await journalEndOffset(kafka, sessionTopics(options.config.session.name).journal)
    log.info({ journalEnd, stopAtTime: options.stopAtTime }, 'replay starting')
    await applier.start()
    const caughtUp = applier.waitCaughtUp({ untilOffset: journalEnd, timeoutMs: options.timeoutMs ?? 3_600_000 })
    await Promise.race([caughtUp, applier.done])
    const final = applier.status()
    if (final.state === 'halted') await caughtUp // rethrows the halt error
    const summary: ReplaySummary = {
      groups,
      lastGroupTime: final.lastApplied?.groupTime,
      lastGroupSeq: final.lastApplied?.groupSeq,
      blocks,
      stoppedBy: final.stopReason === 'stop-time' ? 'stop-time' : 'journal-end',
      journalEnd,
    }
    log.info(summary, 'replay done')
    return summary
  } finally {
    await applier.stop()
  }
}

/** The journal's last stable offset (the admin client lists offsets read_committed). */
async function journalEndOffset(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return Number(offsets.find((o) => o.partition === JOURNAL_PARTITION)?.offset ?? 0)
  } finally {
    await admin.disconnect()
  }
}
