/**
 * The auditing consumer behind `xrc audit`: reads a session's updates,
 * journal or dead-letter topic from an offset or a time, decodes every value
 * the way any Confluent-wire-format Avro consumer does (the writer's schema
 * fetched from the registry by the id in the value's first bytes; no schema
 * of ours is assumed), and hands on one JSON object per record set, per
 * whole group or per dead letter.
 *
 * A journal group is a marker (schemas/markers.ts): the audit resolves it
 * to its updates the way the applier does, reading the updates partitions
 * at the offsets the marker names (applier/journal/updatesReader.ts, with a
 * decoder that registers nothing), so the line shows the group's updates
 * as it will be applied, and the marker's ranges beside them. A group of
 * the older format has its updates in its parts, joined.
 *
 * Reading is read_committed, so parts of aborted journal transactions never
 * show. A value that does not decode becomes a line with `error`, and the
 * audit goes on: an auditor wants to see bad records, not stop at them.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import type { KafkaMessage } from 'kafkajs'
import { GroupAssembler, createUpdatesReader, type UpdatesReader } from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import { XrcError, errorMessage, isXrcError } from '../../lib/errors.js'
import { createKafka, partitionOffsets, readRange } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import { createDecoder } from '../../schemas/codec.js'
import type { JournalRecord } from '../../schemas/journal.js'
import { isMarker } from '../../schemas/markers.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { HEADERS, sessionTopics } from '../../schemas/topicNames.js'
import { requireKafka, requireRegistry } from '../ensureStack.js'
import { summarizeGroup, summarizeRecordSet } from './summaries.js'

export type AuditTopic = 'updates' | 'journal' | 'dlq'

export interface AuditOptions {
  config: Config
  topic: AuditTopic
  /** Start offset (every chosen partition); default: the earliest retained. */
  fromOffset?: number
  /** Start time, ms since the epoch (Kafka record timestamps). */
  fromTimeMs?: number
  /** Partitions to read (updates: controller ids); default all. */
  partitions?: readonly number[]
  /** Stop after this many lines. */
  limit?: number
  /** Keep reading new records until `signal` aborts. */
  follow: boolean
  /** List each update (without its data). */
  eachUpdate: boolean
  write: (value: Record<string, unknown>) => void
  logger: Logger
  signal: AbortSignal
}

export interface AuditSummary {
  topic: string
  lines: number
  errors: number
  /** Where each partition was read from, and up to (exclusive; follow: undefined). */
  from: Record<string, number>
  to: Record<string, number> | undefined
  stoppedByLimit: boolean
  note?: string
}

export async function runAudit(o: AuditOptions): Promise<AuditSummary> {
  const names = sessionTopics(o.config.session.name)
  const topic = o.topic === 'updates' ? names.updates : o.topic === 'journal' ? names.journal : names.deadLetter
  // one clear error for a server out of reach, rather than retries or one undecodable line per record
  await requireKafka(o.config)
  await requireRegistry(o.config)
  const kafka = createKafka({
    brokers: o.config.kafka.brokers,
    clientId: `${o.config.kafka.clientId}-audit`,
    logger: o.logger,
  })
  const admin = kafka.admin()
  await admin.connect()
  let from: Map<number, number>
  let to: Map<number, number>
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      // the dead-letter topic is made on the first dead letter: none means nothing was set aside
      if (o.topic === 'dlq')
        return {
          topic,
          lines: 0,
          errors: 0,
          from: {},
          to: {},
          stoppedByLimit: false,
          note: 'no dead-letter topic: no record was dead-lettered',
        }
      throw new XrcError('XRC_NOT_FOUND', { reason: 'topic', topic, session: o.config.session.name })
    }
    const offsets = await partitionOffsets(admin, topic)
    const chosen = [...offsets.keys()]
      .filter((p) => o.partitions === undefined || o.partitions.includes(p))
      .sort((a, b) => a - b)
    if (chosen.length === 0)
      throw new XrcError('XRC_USAGE', { reason: 'noSuchPartition', topic, partitions: [...offsets.keys()] })
    const byTime =
      o.fromTimeMs === undefined
        ? undefined
        : new Map(
            (await admin.fetchTopicOffsetsByTimestamp(topic, o.fromTimeMs)).map((x) => [x.partition, Number(x.offset)]),
          )
    from = new Map(
      chosen.map((p) => {
        const { low, high } = offsets.get(p) as { low: number; high: number }
        const wanted = byTime?.get(p) ?? o.fromOffset ?? low
        return [p, Math.min(high, Math.max(low, wanted < 0 ? high : wanted))]
      }),
    )
    to = new Map(chosen.map((p) => [p, (offsets.get(p) as { high: number }).high]))
  } finally {
    await admin.disconnect()
  }

  const registry = new SchemaRegistry({ host: o.config.schemaRegistry.url })
  const assemblers = new Map<number, GroupAssembler>()
  // made at the first marker, from its offsets; dropped after a marker it could not resolve
  let updates: UpdatesReader | undefined
  let updatesFailure: unknown
  const newUpdatesReader = (): UpdatesReader =>
    createUpdatesReader({
      kafka,
      topic: names.updates,
      codec: createDecoder<RecordSet>({
        registryUrl: o.config.schemaRegistry.url,
        subject: `${names.updates}-value`,
        schema: RECORD_SET_SCHEMA,
      }),
      blockSize: o.config.session.blockSize,
      logger: o.logger,
      groupPrefix: 'xrc.cli.audit',
      maxActive: 1,
      onError: (err) => (updatesFailure = err),
    })
  let lines = 0
  let errors = 0
  const stop = new AbortController()
  const onOuterAbort = (): void => stop.abort()
  o.signal.addEventListener('abort', onOuterAbort, { once: true })
  // Ctrl-C while connecting came before the listener: an abort event is not replayed
  if (o.signal.aborted) stop.abort()
  const emit = (value: Record<string, unknown>): void => {
    if (stop.signal.aborted) return
    o.write(value)
    lines++
    if (o.limit !== undefined && lines >= o.limit) stop.abort()
  }

  async function decode(value: Buffer | null): Promise<{ schemaId: number; value: Record<string, unknown> }> {
    if (!value || value.length < 5 || value[0] !== 0)
      throw value
        ? new XrcError('XRC_DECODE_FAILED', { reason: 'wireFormat', bytes: value.length, firstByte: value[0] ?? '' })
        : new XrcError('XRC_DECODE_FAILED', { reason: 'noValue' })
    const schemaId = value.readInt32BE(1)
    try {
      return { schemaId, value: (await registry.decode(value)) as Record<string, unknown> }
    } catch (err) {
      throw new XrcError('XRC_DECODE_FAILED', { reason: 'value', schemaId, cause: err })
    }
  }

  async function onMessage(partition: number, m: KafkaMessage): Promise<void> {
    const where = { topic, partition, offset: Number(m.offset), timestamp: new Date(Number(m.timestamp)).toISOString() }
    if (o.topic === 'dlq') {
      const headers = Object.fromEntries(
        Object.entries(m.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : String(v)]),
      )
      const decoded = await decode(m.value).catch((err: unknown) => ({ error: errorMessage(err) }))
      emit({
        ...where,
        headers,
        bytes: m.value?.length ?? 0,
        ...('error' in decoded
          ? { decodeError: decoded.error }
          : { schemaId: decoded.schemaId, ...summarizeRecordSet(decoded.value, o.eachUpdate) }),
      })
      return
    }
    let decoded
    try {
      decoded = await decode(m.value)
    } catch (err) {
      errors++
      emit({ ...where, error: { code: isXrcError(err) ? err.code : 'XRC_DECODE_FAILED', message: errorMessage(err) } })
      return
    }
    if (o.topic === 'updates') {
      emit({ ...where, schemaId: decoded.schemaId, ...summarizeRecordSet(decoded.value, o.eachUpdate) })
      return
    }
    const record = decoded.value as unknown as JournalRecord
    if (isMarker(record)) {
      await emitMarker(where, decoded.schemaId, record)
      return
    }
    const assembler = assemblers.get(partition) ?? new GroupAssembler()
    assemblers.set(partition, assembler)
    if (assembler.pendingParts === 0 && record.part > 0) {
      // the audit began inside a group: its earlier parts are before the start offset
      emit({
        ...where,
        note:
          `part ${record.part + 1} of ${record.parts} of group ${record.groupSeq}, whose first part is ` +
          `before the start offset: not shown as a group`,
      })
      return
    }
    try {
      const group = assembler.push(record, Number(m.offset))
      if (group)
        emit({
          topic,
          partition,
          offsets: [group.firstOffset, group.lastOffset],
          timestamp: where.timestamp,
          schemaId: decoded.schemaId,
          ...summarizeGroup(group.group, record.parts, o.eachUpdate),
        })
    } catch (err) {
      errors++
      emit({
        ...where,
        error: { code: isXrcError(err) ? err.code : 'XRC_GROUP_INCOMPLETE', message: errorMessage(err) },
        headers: { groupSeq: m.headers?.[HEADERS.groupSeq]?.toString() },
      })
    }
  }

  /** One line for a marker: its group resolved against the updates topic, or the error that stopped it. */
  async function emitMarker(
    where: { topic: string; partition: number; offset: number; timestamp: string },
    schemaId: number,
    marker: JournalRecord,
  ): Promise<void> {
    const reader = (updates ??= newUpdatesReader())
    try {
      reader.announce(marker, where.offset)
      const group = await reader.resolve(marker, where.offset, stop.signal)
      if (updatesFailure !== undefined) throw updatesFailure
      reader.release()
      emit({
        ...where,
        offsets: [where.offset, where.offset],
        schemaId,
        ...summarizeGroup(group, marker.parts, o.eachUpdate),
        ranges: marker.ranges,
        ...(marker.discarded !== undefined && marker.discarded.length > 0 ? { discarded: marker.discarded } : {}),
      })
    } catch (err) {
      if (stop.signal.aborted) return
      errors++
      emit({ ...where, groupSeq: marker.groupSeq, error: { code: errorCode(err), message: errorMessage(err) } })
      updates = undefined
      updatesFailure = undefined
      await reader.stop()
    }
  }

  try {
    await readRange({
      kafka,
      groupPrefix: 'xrc.cli',
      topic,
      from,
      to: o.follow ? 'follow' : to,
      isolation: 'read_committed',
      logger: o.logger,
      onMessage,
      signal: stop.signal,
    })
  } finally {
    o.signal.removeEventListener('abort', onOuterAbort)
    await updates?.stop()
  }
  return {
    topic,
    lines,
    errors,
    from: Object.fromEntries(from),
    to: o.follow ? undefined : Object.fromEntries(to),
    stoppedByLimit: o.limit !== undefined && lines >= o.limit,
  }
}

function errorCode(err: unknown): string {
  return isXrcError(err) ? err.code : 'XRC_GROUP_INCOMPLETE'
}
