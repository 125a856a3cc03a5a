/**
 * What Kafka says about a session, without decoding a payload: the record
 * headers carry each record set's controller, kind, seqs and times and each
 * journal record's group seq and time (schemas/topicNames.ts HEADERS).
 *
 * - per updates partition (= controller): its end offset, the last record's
 *   kind, last seq and time (a heartbeat's time is the controller's clock),
 *   and the offset the mover resumes from after its last group (the header
 *   of the journal's last marker), hence how many records it has not
 *   journaled yet;
 * - the journal: its end (last stable offset), its last group, and the
 *   recovery window: the oldest retained group whose updates are all still
 *   on the updates topic (a marker's `xrc.from-offsets` header against each
 *   partition's log start), from which a replay can rebuild;
 * - the dead-letter topic: how many records it holds.
 */
import type { KafkaAdmin, KafkaClient, ReadRecord } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import { readDeadLetters, summarizeDeadLetters } from '../../mover/index.js'
import { parseOffsetsHeader } from '../../mover/index.js'
import { HEADERS, sessionTopics } from '../../schemas/topicNames.js'
import { headerNumber, headerString, partitionOffsets, readRange } from '../../lib/kafka/index.js'

export interface PartitionView {
  partition: number
  endOffset: number
  /** Offset the mover resumes from (its last group's marks); undefined before its first group. */
  moverOffset: number | undefined
  /** Records the mover has not journaled yet. */
  moverLag: number | undefined
  /** From the last record's headers. */
  last?: { offset: number; kind: string | undefined; lastSeq: number | undefined; time: number | undefined }
}

export interface KafkaView {
  updates: { topic: string; exists: boolean; partitions: PartitionView[] }
  journal: {
    topic: string
    exists: boolean
    endOffset: number | undefined
    lastGroup?: { seq: number; time: number; offset: number; resumeOffsets?: Map<number, number> }
    /** The oldest retained group whose updates are all retained; undefined when unknown (see gaps). */
    recoverableFrom?: { seq: number; time: number; offset: number }
  }
  deadLetter: {
    topic: string
    exists: boolean
    records: number | undefined
    byCode?: Record<string, number>
    frozen?: { controller: number; offset: number; code: string }[]
  }
  /** Parts that could not be read, with the reason. */
  gaps: string[]
}

// a group's parts sit in one transaction: its last part is within this many offsets of the end unless a group has
// more parts
const JOURNAL_TAIL_WINDOW = 64

export async function kafkaView(
  kafka: KafkaClient,
  admin: KafkaAdmin,
  session: string,
  logger: Logger,
): Promise<KafkaView> {
  const topics = sessionTopics(session)
  const existing = new Set(await admin.listTopics())
  const view: KafkaView = {
    updates: { topic: topics.updates, exists: existing.has(topics.updates), partitions: [] },
    journal: { topic: topics.journal, exists: existing.has(topics.journal), endOffset: undefined },
    deadLetter: { topic: topics.deadLetter, exists: existing.has(topics.deadLetter), records: undefined },
    gaps: [],
  }
  // the journal first: its last group says where the mover resumes in each updates partition
  if (view.journal.exists) await journalView(kafka, admin, view, logger)
  else view.gaps.push(`journal topic ${topics.journal} does not exist (no mover or applier has run for this session)`)
  const tasks: Promise<void>[] = []
  if (view.updates.exists) tasks.push(updatesView(kafka, admin, view, logger))
  else view.gaps.push(`updates topic ${topics.updates} does not exist (no primary has run for this session)`)
  if (view.deadLetter.exists) {
    const offsets = await partitionOffsets(admin, topics.deadLetter)
    view.deadLetter.records = [...offsets.values()].reduce((n, o) => n + (o.high - o.low), 0)
    if (view.deadLetter.records > 0) {
      // bad input is rare, so the topic is small: by error code, and where controllers froze
      // (mover/intake/deadLetters.ts)
      const summary = summarizeDeadLetters(
        await readDeadLetters({ kafka, topic: topics.deadLetter, logger, groupPrefix: `xrc.${session}.status` }),
      )
      view.deadLetter.byCode = summary.byCode
      view.deadLetter.frozen = Object.values(summary.lastFrozen).map((e) => ({
        controller: e.sourcePartition,
        offset: e.sourceOffset,
        code: e.code,
      }))
    }
  } else {
    view.deadLetter.records = 0
  }
  await Promise.all(tasks)
  return view
}

async function updatesView(kafka: KafkaClient, admin: KafkaAdmin, view: KafkaView, logger: Logger): Promise<void> {
  const topic = view.updates.topic
  const offsets = await partitionOffsets(admin, topic)
  const committed = view.journal.lastGroup?.resumeOffsets ?? new Map<number, number>()
  const last = new Map<number, ReadRecord>()
  const from = new Map([...offsets].map(([p, o]) => [p, Math.max(o.low, o.high - 1)]))
  const to = new Map([...offsets].map(([p, o]) => [p, o.high]))
  const { reachedEnd } = await readRange({
    kafka,
    groupPrefix: 'xrc.cli',
    topic,
    from,
    to,
    isolation: 'read_uncommitted',
    logger,
    timeoutMs: 15_000,
    onMessage: (p, m) => void last.set(p, m),
  })
  if (!reachedEnd) view.gaps.push(`the last records of ${topic} could not all be read within 15 s`)
  for (const [partition, o] of [...offsets].sort((a, b) => a[0] - b[0])) {
    const m = last.get(partition)
    const moverOffset = committed.get(partition)
    view.updates.partitions.push({
      partition,
      endOffset: o.high,
      moverOffset,
      moverLag: moverOffset === undefined ? undefined : Math.max(0, o.high - moverOffset),
      ...(m
        ? {
            last: {
              offset: Number(m.offset),
              kind: headerString(m, HEADERS.kind),
              lastSeq: headerNumber(m, HEADERS.lastSeq),
              time: headerNumber(m, HEADERS.maxTime),
            },
          }
        : {}),
    })
  }
}

async function journalView(kafka: KafkaClient, admin: KafkaAdmin, view: KafkaView, logger: Logger): Promise<void> {
  const topic = view.journal.topic
  const offsets = await partitionOffsets(admin, topic)
  const o = offsets.get(0)
  if (!o) return
  view.journal.endOffset = o.high
  let lastGroup: KafkaView['journal']['lastGroup']
  const { reachedEnd } = await readRange({
    kafka,
    groupPrefix: 'xrc.cli',
    topic,
    from: new Map([[0, Math.max(o.low, o.high - JOURNAL_TAIL_WINDOW)]]),
    to: new Map([[0, o.high]]),
    isolation: 'read_committed',
    logger,
    timeoutMs: 15_000,
    onMessage: (_p, m) => {
      const part = headerNumber(m, HEADERS.part)
      const parts = headerNumber(m, HEADERS.parts)
      const seq = headerNumber(m, HEADERS.groupSeq)
      const time = headerNumber(m, HEADERS.groupTime)
      if (part !== undefined && parts !== undefined && part === parts - 1 && seq !== undefined && time !== undefined) {
        const resumeOffsets = parseOffsetsHeader(headerString(m, HEADERS.resumeOffsets))
        lastGroup = { seq, time, offset: Number(m.offset), ...(resumeOffsets ? { resumeOffsets } : {}) }
      }
    },
  })
  if (lastGroup) {
    view.journal.lastGroup = lastGroup
    await recoveryWindow(kafka, admin, view, o, logger)
  } else if (o.high > o.low)
    view.gaps.push(
      reachedEnd
        ? `no whole group in the last ${JOURNAL_TAIL_WINDOW} offsets of ${topic}`
        : `the tail of ${topic} could not be read within 15 s`,
    )
}

/** How long `xrc status` looks for the recovery window before it says it does not know. */
const RECOVERY_SCAN_MS = 10_000

/**
 * The oldest journaled group whose updates are all still retained: read the journal's headers from its start until
 * a group whose marker reads no offset below its partition's log start (a group of the older format holds its
 * updates itself). Usually the first retained group: the journal keeps no longer than the updates topic.
 */
async function recoveryWindow(
  kafka: KafkaClient,
  admin: KafkaAdmin,
  view: KafkaView,
  journal: { low: number; high: number },
  logger: Logger,
): Promise<void> {
  if (!view.updates.exists) return
  const lows = new Map([...(await partitionOffsets(admin, view.updates.topic))].map(([p, o]) => [p, o.low]))
  const found = new AbortController()
  const { reachedEnd } = await readRange({
    kafka,
    groupPrefix: 'xrc.cli',
    topic: view.journal.topic,
    from: new Map([[0, journal.low]]),
    to: new Map([[0, journal.high]]),
    isolation: 'read_committed',
    logger,
    timeoutMs: RECOVERY_SCAN_MS,
    signal: found.signal,
    onMessage: (_p, m) => {
      if (found.signal.aborted) return
      const seq = headerNumber(m, HEADERS.groupSeq)
      const time = headerNumber(m, HEADERS.groupTime)
      if (seq === undefined || time === undefined || headerNumber(m, HEADERS.part) !== 0) return
      const from = parseOffsetsHeader(headerString(m, HEADERS.fromOffsets)) ?? new Map<number, number>()
      if ([...from].every(([p, offset]) => offset >= (lows.get(p) ?? 0))) {
        view.journal.recoverableFrom = { seq, time, offset: Number(m.offset) }
        found.abort()
      }
    },
  })
  if (view.journal.recoverableFrom === undefined)
    view.gaps.push(
      reachedEnd
        ? `no retained group of ${view.journal.topic} has all its updates retained: a replay cannot rebuild`
        : `the recovery window of ${view.journal.topic} was not found within ${RECOVERY_SCAN_MS / 1000} s`,
    )
}
