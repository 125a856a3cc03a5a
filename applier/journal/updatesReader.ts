/**
 * The updates reader: as markers arrive from the journal, it supplies the
 * record sets at each marker's offsets (schemas/markers.ts) from the
 * session's updates topic, and resolves the head marker into its group.
 *
 * - Streams the updates partitions through the shared partition reader,
 *   started lazily at the first marker's fromOffsets; pause and resume per
 *   partition keep memory bounded (updatesBuffer.ts: the head group, plus
 *   `readAheadBytes` per partition, plus one fetch). While a group applies,
 *   the next markers' updates keep arriving within that bound (prefetch).
 * - Decodes only the offsets a marker reads, with the session codec
 *   (registry retries as the journal feed). A record a marker takes that does
 *   not decode halts (XRC_DECODE_FAILED naming partition, offset and group);
 *   set-aside offsets are never decoded.
 * - The updates topic is neither compacted nor transactional, so its offsets
 *   are contiguous: a first delivered offset above the one expected, or a
 *   partition whose log start moved past what the head marker still needs,
 *   means retention deleted updates before they were applied. The reader
 *   then halts with XRC_UPDATES_GONE naming the partition, the offsets and the
 *   settings; nothing is skipped.
 * - A marker that needs offsets below what is held (a seek back) re-seeks
 *   the partition.
 */
import type { KafkaClient, KafkaClientName, ReadRecord } from '../../lib/kafka/index.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { TopicOffsets, createPartitionReader, type PartitionReader } from '../../lib/kafka/index.js'
import { WIRE_HEADER_BYTES, type AvroDecoder } from '../../schemas/codec.js'
import type { ConsistencyGroup, JournalRecord } from '../../schemas/journal.js'
import { resolveMarker } from '../../schemas/markers.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { walkRecordSet, walkedRecordSet, walksAs } from '../../schemas/recordSetWalk.js'
import { decodeRidingOutages } from './registryDecode.js'
import { UpdatesBuffer, detached, type BufferEffects } from './updatesBuffer.js'

/** Default bytes held per updates partition beyond the head marker's needs. */
export const DEFAULT_READ_AHEAD_BYTES = 2 * 1024 * 1024

/**
 * Most bytes fetched at once per updates partition (less when readAheadBytes
 * is small: a quarter of it, at least 64 KiB). kafkajs holds a fetch's
 * messages whole until each partition's batch is handled, at over a KiB of
 * heap per message (its headers are a Buffer each) whatever its size: 2 MiB
 * of an idle controller's heartbeats (some 200 bytes each; what a late
 * applier reads at the end of a backlog, as much as the catch-up lasted) is
 * some 10,000 messages, over 10 MiB per partition. 512 KiB is still eight
 * full record sets (64 KiB) per partition per fetch.
 */
export const UPDATES_FETCH_BYTES = 512 * 1024

/** The fetch size per updates partition for a read-ahead bound (see UPDATES_FETCH_BYTES). */
export function updatesFetchBytes(readAheadBytes: number): number {
  return Math.max(64 * 1024, Math.min(Math.floor(readAheadBytes / 4), UPDATES_FETCH_BYTES))
}

export interface UpdatesReaderOptions {
  kafka: KafkaClient
  /** The library that reads (kafka.client); the client's own when unset. */
  library?: KafkaClientName
  /** The session's updates topic. */
  topic: string
  /**
   * Decodes record sets (the applier's session codec, or a decoder that registers nothing). Values of `schemaId`,
   * when given (the version this process registered), are walked instead (schemas/recordSetWalk.ts): no copy of
   * the block data, no Avro object per update.
   */
  codec: Pick<AvroDecoder<RecordSet>, 'decode'> & { readonly schemaId?: number; readonly subject?: string }
  blockSize: number
  logger: Logger
  /** Prefix of the reader's private consumer group. */
  groupPrefix: string
  /** Bytes a partition may hold beyond the head marker's needs (default 2 MiB). */
  readAheadBytes?: number
  /** Markers prefetched at once (default 32). */
  maxActive?: number
  /** How often a head marker that waits checks whether its offsets are gone (default 1000 ms). */
  stallCheckMs?: number
  /** The consumer gave up (kafkajs): the applier halts. Other errors are thrown by `resolve`. */
  onError: (err: unknown) => void
  /** Called with the bytes held whenever they change (a gauge). */
  onHeldBytes?: (bytes: number) => void
  /** A decode that failed because the registry is out of reach, retried as long as it lasts. */
  onRetry?: (err: unknown) => void
}

export interface UpdatesReader {
  /** A marker read from the journal, in journal order (its updates are fetched from now on). */
  announce(marker: JournalRecord, journalOffset: number): void
  /** The group of the head marker (`marker` must be it), once its offsets are all read. */
  resolve(marker: JournalRecord, journalOffset: number, signal: AbortSignal): Promise<ConsistencyGroup>
  /**
   * The group of the head marker (`marker` must be it) if its offsets are all
   * read now, else undefined: no wait (how the applier adds ready groups to
   * a batch).
   */
  resolveReady(marker: JournalRecord, journalOffset: number): Promise<ConsistencyGroup | undefined>
  /** The head marker was applied, or found applied: what only it needed is dropped. */
  release(): void
  /** Bytes held now, and the most held since start. */
  heldBytes(): { now: number; peak: number }
  stop(): Promise<void>
}

export function createUpdatesReader(options: UpdatesReaderOptions): UpdatesReader {
  return new UpdatesReaderImpl(options)
}

class UpdatesReaderImpl implements UpdatesReader {
  readonly #o: UpdatesReaderOptions
  readonly #log: Logger
  readonly #buffer: UpdatesBuffer
  #reader: PartitionReader | undefined
  #readerStarted: Promise<void> | undefined
  readonly #offsets: TopicOffsets
  #serial: Promise<void> = Promise.resolve()
  #failed: unknown
  #stopped = false
  readonly #stopping = new AbortController()
  #peak = 0
  readonly #paused = new Set<number>()
  #wake: (() => void) | undefined

  constructor(options: UpdatesReaderOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'updates-reader', topic: options.topic })
    this.#offsets = new TopicOffsets(options.kafka, options.topic)
    this.#buffer = new UpdatesBuffer({
      readAheadBytes: options.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES,
      ...(options.maxActive !== undefined ? { maxActive: options.maxActive } : {}),
    })
  }

  announce(marker: JournalRecord, journalOffset: number): void {
    this.#serially(async () => this.#apply(this.#buffer.announce(marker, journalOffset)))
  }

  release(): void {
    this.#serially(async () => this.#apply(this.#buffer.release()))
  }

  heldBytes(): { now: number; peak: number } {
    return { now: this.#buffer.heldBytes, peak: this.#peak }
  }

  async resolveReady(marker: JournalRecord, journalOffset: number): Promise<ConsistencyGroup | undefined> {
    await this.#serial
    const head = this.#buffer.head
    if (head === undefined || head.journalOffset !== journalOffset || !this.#buffer.headReady()) return undefined
    return resolveMarker(marker, (c) => this.#buffer.readForHead(c), this.#o.blockSize, journalOffset)
  }

  async resolve(marker: JournalRecord, journalOffset: number, signal: AbortSignal): Promise<ConsistencyGroup> {
    const stallMs = this.#o.stallCheckMs ?? 1000
    let lastCheck = Date.now()
    for (;;) {
      await this.#serial
      signal.throwIfAborted()
      const head = this.#buffer.head
      if (head === undefined || head.journalOffset !== journalOffset) {
        throw new Error(`updates reader: marker at journal offset ${journalOffset} is not the head`)
      }
      // a group whose updates are all in hand applies even when a later marker's failed
      if (this.#buffer.headReady()) {
        return resolveMarker(marker, (c) => this.#buffer.readForHead(c), this.#o.blockSize, journalOffset)
      }
      if (this.#failed !== undefined) throw this.#failed
      if (Date.now() - lastCheck >= stallMs) {
        lastCheck = Date.now()
        await this.#checkGone(marker)
        continue
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(stallMs, 250))
        const onAbort = (): void => done()
        signal.addEventListener('abort', onAbort, { once: true })
        function done(): void {
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
          resolve()
        }
        this.#wake = done
      })
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#stopping.abort()
    // a resolve waiting on the head gives up: the applier stops, or reads again from its control row
    this.#failed ??= new XrcError('XRC_CLOSED', { reason: 'stopped', component: 'the updates reader' })
    this.#wake?.()
    await this.#readerStarted?.catch(() => undefined)
    await this.#reader?.stop()
    await this.#offsets.close()
  }

  // ---- internals

  /** Runs `fn` after everything queued before it; its error stops the reader. */
  #serially(fn: () => Promise<void>): void {
    this.#serial = this.#serial
      .then(async () => {
        if (this.#failed === undefined && !this.#stopped) await fn()
      })
      .catch((err: unknown) => this.#fail(err))
  }

  /** Stops reading; the error reaches the applier through the head marker's resolve (see onCrash). */
  #fail(err: unknown): void {
    if (this.#failed !== undefined) return
    this.#failed = err
    this.#log.error({ err }, 'the updates reader stopped')
    this.#wake?.()
  }

  /** Carries out what the buffer asked, then re-decides pauses and wakes a waiting resolve. */
  async #apply(effects: BufferEffects): Promise<void> {
    if (effects.start.size > 0) {
      if (this.#reader === undefined) this.#startReader(effects.start)
      else for (const [partition, offset] of effects.start) await this.#seek(partition, offset)
    }
    for (const [partition, offset] of effects.seek) {
      this.#log.info({ partition, offset }, 'a marker needs earlier updates: reading the partition again')
      await this.#seek(partition, offset)
    }
    for (const { partition, offset, value } of effects.decode) {
      this.#buffer.admit(partition, offset, await this.#decode(partition, offset, value))
    }
    this.#settle()
  }

  #startReader(from: ReadonlyMap<number, number>): void {
    this.#log.info({ from: Object.fromEntries(from) }, 'reading the updates topic')
    const reader = createPartitionReader({
      library: this.#o.library,
      kafka: this.#o.kafka,
      topic: this.#o.topic,
      from,
      isolation: 'read_uncommitted',
      groupPrefix: this.#o.groupPrefix,
      logger: this.#o.logger,
      maxBytesPerPartition: updatesFetchBytes(this.#o.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES),
      onCrash: (err) => {
        this.#fail(err)
        this.#o.onError(err)
      },
      onBatch: (batch) => {
        const done = this.#serial.then(() => this.#onBatch(batch.partition, batch.messages))
        this.#serial = done.catch((err: unknown) => this.#fail(err))
        return this.#serial
      },
    })
    this.#reader = reader
    this.#readerStarted = reader.start().catch((err: unknown) => this.#fail(err))
  }

  async #seek(partition: number, offset: number): Promise<void> {
    await this.#readerStarted
    if (this.#stopped || this.#reader === undefined) return
    this.#paused.delete(partition)
    this.#reader.resume([partition])
    this.#reader.seek(partition, offset)
  }

  async #onBatch(partition: number, messages: ReadRecord[]): Promise<void> {
    if (this.#failed !== undefined || this.#stopped) return
    for (const message of messages) {
      const offset = Number(message.offset)
      const value = message.value ?? Buffer.alloc(0)
      let arrival = this.#buffer.arrive(partition, offset, value)
      if (arrival === 'gap') {
        await this.#onGap(partition, offset)
        arrival = this.#buffer.arrive(partition, offset, value)
        if (arrival === 'gap') return // a stale fetch: #onGap sought the expected offset again
      }
      if (arrival === 'decode') this.#buffer.admit(partition, offset, await this.#decode(partition, offset, value))
      if (arrival === 'ignore' && !this.#buffer.positions().has(partition)) {
        // a partition no controller of the session uses
        this.#reader?.pause([partition])
        return
      }
    }
    this.#settle()
  }

  /** Offsets are missing before `offset`: deleted (halt when a marker needs them), or a fetch from before a seek. */
  async #onGap(partition: number, offset: number): Promise<void> {
    const expected = this.#buffer.positions().get(partition) as number
    const low = await this.#logStart(partition)
    if (low <= expected) {
      // the offsets are there: a fetch from before a seek; read from the expected offset again
      await this.#seek(partition, expected)
      return
    }
    const needed = this.#buffer.neededIn(partition, expected, low)
    if (needed !== undefined) throw this.#goneError(partition, needed, low)
    this.#log.warn({ partition, from: expected, logStart: low }, 'updates no marker needs yet were deleted')
    this.#buffer.skipTo(partition, Math.min(low, offset))
  }

  /** The head marker waits: are its offsets gone (a partition emptied up to past them)? */
  async #checkGone(marker: JournalRecord): Promise<void> {
    for (const [partition, { next, toOffset }] of this.#buffer.headWaiting()) {
      const low = await this.#logStart(partition)
      if (low <= next) continue
      const needed = this.#buffer.neededIn(partition, next, Math.min(low, toOffset))
      if (needed !== undefined) this.#fail(this.#goneError(partition, needed, low, marker.groupSeq))
    }
  }

  #goneError(partition: number, fromOffset: number, logStart: number, groupSeq?: number): XrcError {
    return new XrcError('XRC_UPDATES_GONE', {
      groupSeq: groupSeq ?? this.#buffer.head?.marker.groupSeq ?? 'unknown',
      partition,
      fromOffset: String(fromOffset),
      topic: this.#o.topic,
      logStart: String(logStart),
    })
  }

  async #logStart(partition: number): Promise<number> {
    const offsets = await this.#offsets.fetch({
      signal: this.#stopping.signal,
      onRetry: (err) =>
        this.#log.warn({ err, partition }, 'listing the updates offsets again: the cluster is settling'),
    })
    return Number(offsets.find((o) => o.partition === partition)?.low ?? 0)
  }

  async #decode(partition: number, offset: number, value: Buffer): Promise<RecordSet> {
    try {
      const { schemaId, subject } = this.#o.codec
      if (walksAs(value, schemaId))
        return walkedRecordSet(
          walkRecordSet(detached(value), WIRE_HEADER_BYTES, subject ?? this.#o.topic, schemaId as number),
        )
      return await decodeRidingOutages(() => this.#o.codec.decode(value), {
        signal: this.#stopping.signal,
        ...(this.#o.onRetry ? { onRetry: this.#o.onRetry } : {}),
      })
    } catch (cause) {
      const head = this.#buffer.head
      throw new XrcError('XRC_DECODE_FAILED', {
        reason: 'markerUpdates',
        topic: this.#o.topic,
        partition,
        offset: String(offset),
        groupSeq: head?.marker.groupSeq ?? 'unknown',
        journalOffset: String(head?.journalOffset ?? 'unknown'),
        cause,
      })
    }
  }

  /** Pauses the partitions past their bound, resumes the others, reports the bytes and wakes a waiting resolve. */
  #settle(): void {
    const reader = this.#reader
    if (reader !== undefined && !this.#stopped) {
      for (const partition of this.#buffer.positions().keys()) {
        const pause = this.#buffer.shouldPause(partition)
        if (pause && !this.#paused.has(partition)) {
          this.#paused.add(partition)
          reader.pause([partition])
        } else if (!pause && this.#paused.has(partition)) {
          this.#paused.delete(partition)
          reader.resume([partition])
        }
      }
    }
    const held = this.#buffer.heldBytes
    if (held > this.#peak) this.#peak = held
    this.#o.onHeldBytes?.(held)
    this.#wake?.()
  }
}
