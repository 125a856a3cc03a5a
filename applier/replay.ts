/**
 * Replay from the journal: rebuilds a secondary into an empty schema, up to
 * the journal's end, a consistency time T or a group N (recover to a past
 * group). It starts from the empty image (the journal must still retain
 * group 1 and the updates its markers name, else XRC_UPDATES_GONE) or from
 * a base seeded into the empty schema first (a snapshot: `seed`), and then
 * applies the groups after the base. It is the applier run to a goal: the
 * same reads (markers resolved against the updates topic), order checks and
 * transactions, so a replayed image is the applied image. Which base a
 * target starts from is recoveryPlan.ts's decision.
 */
import type { KafkaClient } from '../lib/kafka/index.js'
import type { Registry } from 'prom-client'
import type { Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { Pool } from '../lib/postgres.js'
import type { AvroCodec } from '../schemas/codec.js'
import type { JournalRecord } from '../schemas/journal.js'
import { sessionTopics } from '../schemas/topicNames.js'
import { createKafkaClient } from '../lib/kafka/index.js'
import { createApplier } from './applier.js'
import { JOURNAL_PARTITION } from './journal/index.js'

export interface ReplayOptions {
  config: Config
  logger: Logger
  /** Target schema; must hold no applied group. Default config.applier.schema. */
  schema?: string
  /** Consistency time T (microseconds): stop after the last group with groupTime <= T. */
  stopAtTime?: number
  /** Group seq N: stop after group N. */
  stopAtGroup?: number
  /**
   * Fills the empty target schema with a base image and its control row (a
   * snapshot's, applier/store/snapshots.ts) before the journal is followed
   * from the group after it; the target is checked empty first.
   */
  seed?: (schema: string) => Promise<void>
  /** After each group: groups applied so far and the journal offset replay runs to. */
  onProgress?: (progress: ReplayProgress) => void
  /** Longest wait for the journal's end, ms (default one hour). */
  timeoutMs?: number
  kafka?: KafkaClient
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
  /** Groups applied (after the base). */
  groups: number
  /** The group the seeded base held; undefined when replay started from the empty image. */
  baseGroupSeq: number | undefined
  /** Consistency time of the last group applied; undefined when none was. */
  lastGroupTime: number | undefined
  lastGroupSeq: number | undefined
  /** Block updates applied. */
  blocks: number
  /** 'stop-time': the stop point (T or N) was reached. 'journal-end': the journal ran out first. */
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
    createKafkaClient({
      connection: config.kafka,
      library: config.kafka.client,
      clientId: `${config.kafka.clientId}-replay`,
      logger: options.logger,
    })
  const applier = createApplier({
    config,
    logger: options.logger,
    kafka,
    createJournalTopic: false,
    // a recovery tool: the service applier tells the primary once it runs
    publishApplied: false,
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
    ...(options.stopAtTime !== undefined ? { stopAtTime: options.stopAtTime } : {}),
    ...(options.stopAtGroup !== undefined ? { stopAtGroup: options.stopAtGroup } : {}),
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
    let baseGroupSeq: number | undefined
    if (options.seed !== undefined) {
      await options.seed(applier.store.schema)
      baseGroupSeq = (await applier.store.lastApplied())?.groupSeq
    }
    // replay runs to the end the journal has now; groups committed later are the applier's job
    journalEnd = await journalEndOffset(kafka, sessionTopics(options.config.session.name).journal)
    const { stopAtTime, stopAtGroup } = options
    log.info({ journalEnd, stopAtTime, stopAtGroup, baseGroupSeq }, 'replay starting')
    await applier.start()
    const caughtUp = applier.waitCaughtUp({ untilOffset: journalEnd, timeoutMs: options.timeoutMs ?? 3_600_000 })
    await Promise.race([caughtUp, applier.done])
    if (applier.status().state === 'halted') await caughtUp // rethrows the halt error
    // groups committed after the journal's end was read may still be applying: the summary counts them too
    await applier.stop()
    const final = applier.status()
    const summary: ReplaySummary = {
      groups,
      baseGroupSeq,
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
async function journalEndOffset(kafka: KafkaClient, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return Number(offsets.find((o) => o.partition === JOURNAL_PARTITION)?.offset ?? 0)
  } finally {
    await admin.disconnect()
  }
}
