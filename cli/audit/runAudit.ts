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
 *
 * Where it reads is chosen in auditRange.ts, and each line is made in
 * auditLines.ts (both pure); here is the reading.
 */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import { createSchemaRegistry } from '../../schemas/registryClient.js'
import type { KafkaClient, ReadRecord } from '../../lib/kafka/index.js'
import { GroupAssembler, createUpdatesReader, type UpdatesReader } from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import { XrcError, errorMessage } from '../../lib/errors.js'
import { createKafkaClient, readRange } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import { createDecoder } from '../../schemas/codec.js'
import type { ConsistencyGroup, JournalRecord } from '../../schemas/journal.js'
import { isMarker } from '../../schemas/markers.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { requireKafka, requireRegistry } from '../ensureStack.js'
import {
  deadLetterLine,
  decodeErrorLine,
  joinErrorLine,
  joinedGroupLine,
  markerErrorLine,
  markerLine,
  partBeforeStartLine,
  updatesLine,
  whereOf,
  type AuditLine,
  type Decoded,
  type Where,
} from './auditLines.js'
import { readAuditRange, type AuditRange } from './auditRange.js'

export type AuditTopic = 'updates' | 'journal' | 'dlq'

export interface AuditOptions {
  config: Config
  topic: AuditTopic
  /** Start offset (every chosen partition); default: the earliest retained. */
  fromOffset?: number
  /** Start time, ms since the epoch (KafkaClient record timestamps). */
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
  const kafka = createKafkaClient({
    connection: o.config.kafka,
    library: o.config.kafka.client,
    clientId: `${o.config.kafka.clientId}-audit`,
    logger: o.logger,
  })
  const range = await readAuditRange(kafka, topic, o)
  if (range === undefined) {
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
  return new AuditReader(o, kafka, topic, range).run()
}

/**
 * Decodes a value the way any Confluent-wire-format consumer does: a zero byte, the writer's schema id (4 bytes), the
 * Avro body; the schema fetched from the registry by that id. Throws XRC_DECODE_FAILED.
 */
async function decodeValue(registry: SchemaRegistry, value: Buffer | null): Promise<Decoded> {
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

/**
 * Resolves markers through one updates reader (the applier's, with a decoder that registers nothing): made at the
 * first marker, dropped after a marker it could not resolve (the next marker makes another), stopped at the end.
 */
class MarkerResolver {
  readonly #o: AuditOptions
  readonly #kafka: KafkaClient
  #reader: UpdatesReader | undefined
  /** What a reader reported through onError; it fails the marker being resolved. */
  #failure: unknown

  constructor(o: AuditOptions, kafka: KafkaClient) {
    this.#o = o
    this.#kafka = kafka
  }

  /** The updates reader, made at the first marker. */
  reader(): UpdatesReader {
    return (this.#reader ??= this.#newReader())
  }

  /** The marker's group, once `reader` has read its updates; throws what stopped it. */
  async resolve(
    reader: UpdatesReader,
    marker: JournalRecord,
    offset: number,
    signal: AbortSignal,
  ): Promise<ConsistencyGroup> {
    reader.announce(marker, offset)
    const group = await reader.resolve(marker, offset, signal)
    if (this.#failure !== undefined) throw this.#failure
    reader.release()
    return group
  }

  /** After a marker `reader` could not resolve: it goes, and the next marker makes a new one. */
  async drop(reader: UpdatesReader): Promise<void> {
    this.#reader = undefined
    this.#failure = undefined
    await reader.stop()
  }

  async stop(): Promise<void> {
    await this.#reader?.stop()
  }

  #newReader(): UpdatesReader {
    const { config, logger } = this.#o
    const updates = sessionTopics(config.session.name).updates
    return createUpdatesReader({
      kafka: this.#kafka,
      topic: updates,
      codec: createDecoder<RecordSet>({
        registry: config.schemaRegistry,
        subject: `${updates}-value`,
        schema: RECORD_SET_SCHEMA,
      }),
      blockSize: config.session.blockSize,
      logger,
      groupPrefix: 'xrc.cli.audit',
      maxActive: 1,
      onError: (err) => (this.#failure = err),
    })
  }
}

/** One audit: reads the range and writes a line per record set, dead letter, marker or joined group. */
class AuditReader {
  readonly #o: AuditOptions
  readonly #kafka: KafkaClient
  readonly #topic: string
  readonly #range: AuditRange
  readonly #registry: SchemaRegistry
  readonly #markers: MarkerResolver
  /** Per journal partition: the parts of a group of the older format, joined as they come. */
  readonly #assemblers = new Map<number, GroupAssembler>()
  /** Aborts the read: the caller's signal, or the limit reached. */
  readonly #stop = new AbortController()
  #lines = 0
  #errors = 0

  constructor(o: AuditOptions, kafka: KafkaClient, topic: string, range: AuditRange) {
    this.#o = o
    this.#kafka = kafka
    this.#topic = topic
    this.#range = range
    this.#registry = createSchemaRegistry(o.config.schemaRegistry)
    this.#markers = new MarkerResolver(o, kafka)
  }

  async run(): Promise<AuditSummary> {
    const o = this.#o
    const onOuterAbort = (): void => this.#stop.abort()
    o.signal.addEventListener('abort', onOuterAbort, { once: true })
    // Ctrl-C while connecting came before the listener: an abort event is not replayed
    if (o.signal.aborted) this.#stop.abort()
    let read: { reachedEnd: boolean; error?: Error }
    try {
      read = await readRange({
        kafka: this.#kafka,
        groupPrefix: 'xrc.cli',
        topic: this.#topic,
        from: this.#range.from,
        to: o.follow ? 'follow' : this.#range.to,
        isolation: 'read_committed',
        logger: o.logger,
        onMessage: (partition, m) => this.#onMessage(partition, m),
        signal: this.#stop.signal,
      })
    } finally {
      o.signal.removeEventListener('abort', onOuterAbort)
      await this.#markers.stop()
    }
    // the reader gave up before the end (not a limit, not Ctrl-C): the audit is incomplete and must say so
    if (read.error !== undefined && !this.#stop.signal.aborted)
      throw new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: o.config.kafka.brokers.join(','), cause: read.error })
    return {
      topic: this.#topic,
      lines: this.#lines,
      errors: this.#errors,
      from: Object.fromEntries(this.#range.from),
      to: o.follow ? undefined : Object.fromEntries(this.#range.to),
      stoppedByLimit: o.limit !== undefined && this.#lines >= o.limit,
    }
  }

  /** Writes a line, unless the audit was stopped; the limit's line stops it. */
  #emit(line: AuditLine): void {
    if (this.#stop.signal.aborted) return
    this.#o.write(line)
    this.#lines++
    if (this.#o.limit !== undefined && this.#lines >= this.#o.limit) this.#stop.abort()
  }

  /** A line with an error: counted, and the audit goes on. */
  #emitError(line: AuditLine): void {
    this.#errors++
    this.#emit(line)
  }

  async #onMessage(partition: number, m: ReadRecord): Promise<void> {
    const where = whereOf(this.#topic, partition, m)
    if (this.#o.topic === 'dlq') return this.#deadLetter(where, m)
    let decoded
    try {
      decoded = await decodeValue(this.#registry, m.value)
    } catch (err) {
      this.#emitError(decodeErrorLine(where, err))
      return
    }
    if (this.#o.topic === 'updates') return this.#emit(updatesLine(where, decoded, this.#o.eachUpdate))
    const record = decoded.value as unknown as JournalRecord
    if (isMarker(record)) return this.#marker(where, decoded.schemaId, record)
    this.#part(where, m, decoded.schemaId, record)
  }

  /** A dead letter: a value that does not decode is shown as such, not counted as an error. */
  async #deadLetter(where: Where, m: ReadRecord): Promise<void> {
    const decoded = await decodeValue(this.#registry, m.value).catch((err: unknown) => ({ error: errorMessage(err) }))
    this.#emit(deadLetterLine(where, m, decoded, this.#o.eachUpdate))
  }

  /** A part of a group of the older format: the group's line once its last part is in. */
  #part(where: Where, m: ReadRecord, schemaId: number, record: JournalRecord): void {
    const assembler = this.#assemblers.get(where.partition) ?? new GroupAssembler()
    this.#assemblers.set(where.partition, assembler)
    // the audit began inside a group: its earlier parts are before the start offset
    if (assembler.pendingParts === 0 && record.part > 0) return this.#emit(partBeforeStartLine(where, record))
    try {
      const group = assembler.push(record, Number(m.offset))
      if (group) this.#emit(joinedGroupLine(where, group, schemaId, record.parts, this.#o.eachUpdate))
    } catch (err) {
      this.#emitError(joinErrorLine(where, err, m))
    }
  }

  /** One line for a marker: its group resolved against the updates topic, or the error that stopped it. */
  async #marker(where: Where, schemaId: number, marker: JournalRecord): Promise<void> {
    const reader = this.#markers.reader()
    try {
      const group = await this.#markers.resolve(reader, marker, where.offset, this.#stop.signal)
      this.#emit(markerLine(where, schemaId, marker, group, this.#o.eachUpdate))
    } catch (err) {
      if (this.#stop.signal.aborted) return
      this.#emitError(markerErrorLine(where, marker, err))
      await this.#markers.drop(reader)
    }
  }
}
