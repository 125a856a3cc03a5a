/**
 * What the failover reads of the lost site's traffic (the pure rules are
 * lostWrites.ts): the journal after the secondary's last applied group (the
 * groups not applied yet, and where the updates not in any applied group
 * start), the updates topic from there (headers first; only a record set
 * that straddles T is decoded), and the old site's sidefiles when its files
 * can be reached.
 */
import type { KafkaClient, ReadRecord } from '../../lib/kafka/index.js'
import type { Config } from '../../lib/config.js'
import { headerNumber, headerString, partitionOffsets, readRange, scanTopic } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import { XrcError } from '../../lib/errors.js'
import { parseOffsetsHeader } from '../../mover/index.js'
import { controllerDir, loadMirrorRecord, primaryDir, scanSidefileWrites } from '../../producer/index.js'
import { createDecoder } from '../../schemas/codec.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { HEADERS, sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { allWritesOf, placeRecordSet, type SeenWrite } from './lostWrites.js'

/** The journal as seen from the secondary's last applied group. */
export interface JournalAfter {
  /** Complete groups journaled after the applied one (not applied yet). */
  groupsAfter: number
  /** Per controller, the updates offset from which no write is in an applied group (the marker's resume offsets). */
  resumeOffsets: Map<number, number> | undefined
}

const isLastPart = (m: ReadRecord): boolean => {
  const part = headerNumber(m, HEADERS.part)
  const parts = headerNumber(m, HEADERS.parts)
  return part !== undefined && parts !== undefined && part === parts - 1
}

/**
 * Reads the journal from the applied group's marker (`appliedOffset`;
 * undefined: none applied, from the start) to its end, read_committed.
 */
export async function readJournalAfter(
  kafka: KafkaClient,
  session: string,
  appliedOffset: number | undefined,
  logger: Logger,
): Promise<JournalAfter> {
  let groupsAfter = 0
  let resumeOffsets: Map<number, number> | undefined
  await scanTopic({
    kafka,
    topic: sessionTopics(session).journal,
    ...(appliedOffset !== undefined ? { from: appliedOffset } : {}),
    groupPrefix: `xrc.${session}.failover`,
    logger,
    onMessage: (m) => {
      if (appliedOffset !== undefined && Number(m.offset) === appliedOffset)
        resumeOffsets = parseOffsetsHeader(headerString(m, HEADERS.resumeOffsets))
      else if (isLastPart(m)) groupsAfter++
    },
  })
  return { groupsAfter, resumeOffsets }
}

/**
 * The host writes after `t` in the updates topic, read from `from` per
 * controller (the earliest retained offset for one not named) to the end.
 */
export async function updatesWritesAfter(
  kafka: KafkaClient,
  config: Config,
  from: ReadonlyMap<number, number> | undefined,
  t: number,
  logger: Logger,
): Promise<SeenWrite[]> {
  const topic = sessionTopics(config.session.name).updates
  const admin = kafka.admin()
  await admin.connect()
  let offsets: Map<number, { low: number; high: number }>
  try {
    offsets = await partitionOffsets(admin, topic)
  } finally {
    await admin.disconnect()
  }
  const start = new Map<number, number>()
  const end = new Map<number, number>()
  for (const [p, o] of offsets) {
    start.set(p, Math.max(o.low, from?.get(p) ?? o.low))
    end.set(p, o.high)
  }
  const decoder = createDecoder<RecordSet>({
    registry: config.schemaRegistry,
    subject: valueSubject(topic),
    schema: RECORD_SET_SCHEMA,
  })
  const writes: SeenWrite[] = []
  const result = await readRange({
    kafka,
    topic,
    from: start,
    to: end,
    isolation: 'read_committed',
    groupPrefix: `xrc.${config.session.name}.failover`,
    logger,
    timeoutMs: 120_000,
    onMessage: async (partition, m) => {
      const head = {
        kind: headerString(m, HEADERS.kind) ?? '',
        firstSeq: headerNumber(m, HEADERS.firstSeq) ?? 0,
        lastSeq: headerNumber(m, HEADERS.lastSeq) ?? -1,
        minTime: headerNumber(m, HEADERS.minTime) ?? 0,
        maxTime: headerNumber(m, HEADERS.maxTime) ?? 0,
      }
      const controller = headerNumber(m, HEADERS.controller) ?? partition
      const place = placeRecordSet(head, t)
      if (place === 'all') writes.push(...allWritesOf(controller, head))
      else if (place === 'decode' && m.value !== null) {
        const rs = await decoder.decode(m.value)
        for (const u of rs.updates) writes.push({ controller: rs.controller, seq: u.seq, time: u.time })
      }
    },
  })
  const what = `${topic} read to its end`
  if (result.error !== undefined)
    throw new XrcError('XRC_TIMEOUT', { reason: 'readerFailed', what, cause: result.error })
  if (!result.reachedEnd) throw new XrcError('XRC_TIMEOUT', { timeoutMs: 120_000, what })
  return writes
}

/** What the old site's files say of the writes it took. */
export interface OldSiteWrites {
  /** Host writes its sidefiles still hold. */
  writes: SeenWrite[]
  /**
   * Controllers that were suspended or resyncing when it died: their writes
   * since the suspension were only marked in change bitmaps (and travel as
   * resync copies), so they cannot be counted one by one.
   */
  notDuplex: { controller: number; state: string }[]
}

/**
 * The host writes the old site's sidefiles still hold (every controller of
 * the session) and its controllers' mirror states, or undefined when its
 * primary folder cannot be read.
 */
export async function oldSiteWrites(config: Config): Promise<OldSiteWrites | undefined> {
  try {
    await access(primaryDir(config.session.dataDir, config.session.name), constants.R_OK)
  } catch {
    return undefined // the site's files are gone with it, or not mounted here
  }
  const out: OldSiteWrites = { writes: [], notDuplex: [] }
  for (const c of config.session.controllers) {
    const dir = controllerDir(config.session.dataDir, config.session.name, c.id)
    for (const w of await scanSidefileWrites(join(dir, 'sidefile'))) out.writes.push({ controller: c.id, ...w })
    const mirror = await loadMirrorRecord(dir)
    if (mirror.state !== 'duplex') out.notDuplex.push({ controller: c.id, state: mirror.state })
  }
  return out
}
