/**
 * The reading half of the mover, for one run of the pipeline (one reader,
 * one former): each batch of an updates partition is decoded, checked and
 * fed to the former in offset order; a partition whose buffer passes
 * mover.maxBufferedBytes is paused until groups drain it below half.
 *
 * Bad input (see mover/intake/deadLetters.ts for the actions). Nothing is skipped
 * silently, and nothing skipped can break consistency, because every
 * controller's seqs must be contiguous:
 * - a record that is not its partition's (undecodable and not claiming the
 *   controller's next seq by its headers, another controller's) is
 *   dead-lettered and skipped: if it was the stream's, the next record
 *   shows the gap;
 * - a re-send of seqs already taken is dropped (counted); one with later
 *   times than the controller's (XRC_DUPLICATE_SEQUENCE) is dead-lettered
 *   too;
 * - a gap, a time regression, or an invalid record carrying the
 *   controller's next seqs breaks the controller's stream: the record is
 *   dead-lettered and the controller is frozen there. Its partition is not
 *   read further, so the consistency time stays at its last report; the
 *   other controllers' records are read and kept (until backpressure), and
 *   groups up to T go on. An operator decision for that record (the
 *   control topic) lets the pipeline restart through it.
 * Retriable trouble (the registry or the dead-letter topic out of reach)
 * restarts the pipeline; anything else is a bug and halts.
 *
 * The decisions are pure and live beside this file: which record is set
 * aside and which freezes its controller (disposition.ts), when a
 * partition is paused and resumed (backpressure.ts).
 */
import type { ReadRecord, RecordHeaders } from '../../lib/kafka/index.js'
import type { PartitionBatch } from '../../lib/kafka/index.js'
import { XrcError, isXrcError, type ErrorCode } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { ResumeCommand } from '../../schemas/control.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import type { RecordSetView } from '../../schemas/updateList.js'
import type { DeadLetter, DeadLetterAction } from './deadLetters.js'
import type { AddOutcome, DiscardedSeqs, GroupFormer } from '../groups/index.js'
import type { MoverMetrics } from '../moverMetrics.js'
import { Backpressure } from './backpressure.js'
import type { ClockSkew, SkewReading } from './clockSkew.js'
import {
  type ClaimedSeqs,
  type Disposition,
  claimsNextSeq,
  decodedSeqs,
  dispositionOfRefused,
  dispositionOfUndecodable,
  headerSeqs,
} from './disposition.js'
import { decodeRecordSet } from './recordSetInput.js'

/** A controller whose stream is broken at a record: T waits for it until an operator resumes it. */
export interface FrozenController {
  controller: number
  partition: number
  /** Offset of the record it froze at (dead-lettered with action frozen). */
  offset: number
  code: ErrorCode
  message: string
  /** The seq the controller was expecting. */
  expectedSeq: number | undefined
  /** Whether the record itself can be taken once the missing seqs are discarded (a gap): else it is set aside. */
  takeable: boolean
  since: string
}

export interface UpdatesIntakeOptions {
  former: GroupFormer
  /** The session's controller ids: a partition of no controller holds no stream to break. */
  controllers: readonly number[]
  codec: AvroCodec<RecordSet>
  /** Where each partition's reading starts: earlier offsets are re-deliveries and are ignored. */
  startOffsets: ReadonlyMap<number, number>
  maxRecordSetBytes: number
  maxBufferedBytes: number
  metrics: MoverMetrics
  logger: Logger
  pause(partitions: number[]): void
  resume(partitions: number[]): void
  /** Sets a record aside on the dead-letter topic; rejects when it cannot (the pipeline then restarts). */
  deadLetter(letter: DeadLetter): Promise<void>
  /** The operator's decision for a record a controller froze at. */
  decision(partition: number, offset: number): ResumeCommand | undefined
  onFreeze(frozen: FrozenController): void
  /** Seqs discarded by an operator decision: reported, never journaled. */
  onDiscard(discarded: DiscardedSeqs, command: ResumeCommand): void
  /** Retriable trouble: restart the pipeline (later). */
  onRestart(err: unknown): void
  /** A bug, not bad input: halt. */
  onHalt(err: unknown): void
  /** A write became cuttable (T covers it): the control loop cuts it without waiting out an idle interval. */
  onCuttable(): void
  /** The controllers' clock skew, sampled from record sets read at the end of their partition; absent: unchecked. */
  clockSkew?: ClockSkew
  /** The mover's clock, microseconds since the epoch (default: the wall clock). */
  now?: () => number
}

export interface UpdatesIntake {
  onBatch(batch: PartitionBatch): Promise<void>
  /** After a group was journaled: resumes the partitions it drained. */
  drained(partitions: readonly number[]): void
  /** Takes no more batches (the pipeline restarts or halts). */
  close(): void
  paused(): number[]
  lag(): Record<string, number>
  duplicateRecordSets(): number
  frozen(): FrozenController[]
  /** The controllers' clock skew as estimated now; undefined when unchecked or no controller was heard. */
  clockSkew(): SkewReading | undefined
}

type Verdict = 'next' | 'stop'

export function createUpdatesIntake(options: UpdatesIntakeOptions): UpdatesIntake {
  return new PartitionsIntake(options)
}

class PartitionsIntake implements UpdatesIntake {
  readonly #options: UpdatesIntakeOptions
  readonly #former: GroupFormer
  readonly #metrics: MoverMetrics
  readonly #log: Logger
  /**
   * Per partition, the last offset fed: kafkajs re-delivers from
   * the private group's start after restarting a crashed consumer.
   */
  readonly #lastFed: Map<number, number>
  readonly #backpressure: Backpressure
  readonly #frozen = new Map<number, FrozenController>()
  readonly #lag = new Map<number, number>()
  #duplicates = 0
  #open = true
  /**
   * The Kafka timestamp of the last record set fed from the batch being taken, microseconds: the primary's wall
   * clock when it sent it (CreateTime, kafkajs's Date.now()), the clock its session clock reads (a skew sample).
   */
  #batchTime: number | undefined

  constructor(options: UpdatesIntakeOptions) {
    this.#options = options
    this.#former = options.former
    this.#metrics = options.metrics
    this.#log = options.logger
    this.#lastFed = new Map([...options.startOffsets].map(([p, o]) => [p, o - 1]))
    this.#backpressure = new Backpressure(options.maxBufferedBytes)
  }

  async onBatch(batch: PartitionBatch): Promise<void> {
    this.#batchTime = undefined
    if (!(await this.#takeAll(batch))) return
    this.#noteLag(batch)
    if (!this.#sampleSkew(batch)) return
    const { partition } = batch
    const buffered = this.#former.bufferedBytes(partition)
    this.#metrics.bufferedBytes.set({ partition: String(partition) }, buffered)
    if (this.#backpressure.afterBatch(partition, buffered)) {
      this.#options.pause([partition])
      this.#metrics.pausedPartitions.set(this.#backpressure.size)
      this.#log.debug({ partition, buffered }, 'partition paused: buffer full')
    }
    if (this.#former.cuttableBytes(1) > 0) this.#options.onCuttable()
  }

  drained(partitions: readonly number[]): void {
    for (const p of partitions) this.#metrics.bufferedBytes.set({ partition: String(p) }, this.#former.bufferedBytes(p))
    const ready = this.#backpressure.afterDrain(
      (p) => this.#former.bufferedBytes(p),
      (p) => this.#frozen.has(p),
    )
    if (ready.length > 0) {
      this.#options.resume(ready)
      this.#log.debug({ partitions: ready }, 'partitions resumed')
    }
    this.#metrics.pausedPartitions.set(this.#backpressure.size)
  }

  close(): void {
    this.#open = false
  }

  paused(): number[] {
    return [...new Set([...this.#backpressure.paused(), ...this.#frozen.keys()])].sort((a, b) => a - b)
  }

  lag(): Record<string, number> {
    return Object.fromEntries([...this.#lag].map(([p, n]) => [String(p), n]))
  }

  duplicateRecordSets(): number {
    return this.#duplicates
  }

  frozen(): FrozenController[] {
    return [...this.#frozen.values()]
  }

  clockSkew(): SkewReading | undefined {
    return this.#options.clockSkew?.reading(this.#now())
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now() * 1000
  }

  /**
   * A batch that ends at its partition's end gives a clock skew sample: the
   * send time of the last record set it fed, against the mover's clock (see
   * clockSkew.ts; a backlog is old, not skewed). False when the skew has been above the bound
   * too long: the run halts (XRC_CLOCK_SKEW), no group is cut past it.
   */
  #sampleSkew(batch: PartitionBatch): boolean {
    const skew = this.#options.clockSkew
    if (skew === undefined) return true
    const now = this.#now()
    if (this.#batchTime !== undefined && this.#lag.get(batch.partition) === 0)
      skew.sample(batch.partition, this.#batchTime, now)
    const reading = skew.reading(now)
    this.#metrics.clockSkew.set((reading?.skewUs ?? 0) / 1e6)
    const over = skew.check(now, reading) // the reading once per batch: this is the mover's hot path
    if (over === undefined) return true
    this.#fail(
      new XrcError('XRC_CLOCK_SKEW', {
        skewMs: Math.round(over.skewUs / 1000),
        ahead: over.ahead,
        behind: over.behind,
        maxSkewMs: Math.round(skew.maxSkewUs / 1000),
        forMs: Math.round((now - over.sinceUs) / 1000),
        offsets: [...over.offsets]
          .map(([c, o]) => `controller ${c} ${o >= 0 ? '+' : ''}${Math.round(o / 1000)} ms`)
          .join(', '),
      }),
    )
    return false
  }

  /** Takes the batch's records in offset order; false when it stopped (closed, frozen, failed) before the end. */
  async #takeAll(batch: PartitionBatch): Promise<boolean> {
    const { partition } = batch
    for (const message of batch.messages) {
      if (!this.#open || this.#frozen.has(partition)) return false
      const offset = Number(message.offset)
      if (offset <= (this.#lastFed.get(partition) ?? -1)) continue
      let verdict: Verdict
      try {
        verdict = await this.#take(partition, message)
      } catch (err) {
        // the dead-letter topic out of reach: the record is read again after the restart
        this.#fail(err)
        return false
      }
      if (verdict === 'stop') return false
      this.#lastFed.set(partition, offset)
    }
    return this.#open
  }

  #noteLag(batch: PartitionBatch): void {
    const last = batch.messages[batch.messages.length - 1]
    if (last === undefined) return
    const behind = Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1)
    this.#lag.set(batch.partition, behind)
    this.#metrics.partitionLag.set({ partition: String(batch.partition) }, behind)
  }

  async #take(partition: number, m: ReadRecord): Promise<Verdict> {
    let rs: RecordSetView
    try {
      rs = await decodeRecordSet(m, partition, this.#options.codec, this.#options.maxRecordSetBytes)
    } catch (err) {
      // it does not decode: only its headers can say whose seqs it held
      const claims = (): boolean =>
        this.#claimsNext(partition, headerSeqs(m)) || this.#claimsNext(partition, decodedSeqs(err as XrcError))
      return this.#dispose(partition, m, err, dispositionOfUndecodable(err, claims), undefined)
    }
    return this.#feed(partition, m, rs, undefined)
  }

  async #feed(
    partition: number,
    m: ReadRecord,
    rs: RecordSetView,
    decision: ResumeCommand | undefined,
  ): Promise<Verdict> {
    let outcome: AddOutcome
    try {
      outcome = this.#former.add(Number(m.offset), rs)
    } catch (err) {
      const disposition = dispositionOfRefused(err, () => this.#claimsNext(partition, rs))
      return this.#dispose(partition, m, err, disposition, rs)
    }
    if (outcome.kind !== 'duplicate') this.#batchTime = Number(m.timestamp) * 1000
    if (outcome.discarded) {
      this.#metrics.discardedSeqs.inc(outcome.discarded.lastSeq - outcome.discarded.firstSeq + 1)
      if (decision) this.#options.onDiscard(outcome.discarded, decision)
    }
    this.#noted(outcome)
    return 'next'
  }

  /** Acts on a disposition: the record set aside, the controller frozen, or the run failed. */
  async #dispose(
    partition: number,
    m: ReadRecord,
    err: unknown,
    disposition: Disposition,
    rs: RecordSetView | undefined,
  ): Promise<Verdict> {
    switch (disposition.kind) {
      case 'fail':
        return this.#fail(err)
      case 'freeze':
        return this.#breakAt(partition, m, err as XrcError, rs, disposition.takeable)
      case 'set-aside':
        await this.#setAside(partition, m, err as XrcError, disposition.action)
        this.#former.skipped(partition, Number(m.offset))
        return 'next'
    }
  }

  /** The controller's stream is broken at this record: apply the operator's decision, or freeze it. */
  async #breakAt(
    partition: number,
    m: ReadRecord,
    err: XrcError,
    rs: RecordSetView | undefined,
    takeable: boolean,
  ): Promise<Verdict> {
    const offset = Number(m.offset)
    await this.#setAside(partition, m, err, 'frozen')
    const decision = this.#options.decision(partition, offset)
    if (decision === undefined) return this.#freeze(partition, offset, err, takeable)
    this.#log.warn(
      { partition, offset, discardMissing: decision.discardMissing, requestedBy: decision.requestedBy },
      'resuming a frozen controller as the operator decided',
    )
    if (decision.discardMissing) this.#former.discardMissing(partition)
    // a gap's record is the stream's next one once the missing seqs are given up
    if (takeable && decision.discardMissing && rs !== undefined) return this.#feed(partition, m, rs, decision)
    this.#former.skipped(partition, offset)
    return 'next'
  }

  #freeze(partition: number, offset: number, err: XrcError, takeable: boolean): Verdict {
    const f: FrozenController = {
      controller: partition,
      partition,
      offset,
      code: err.code,
      message: err.message,
      expectedSeq: this.#former.expectedSeq(partition),
      takeable,
      since: new Date().toISOString(),
    }
    this.#frozen.set(partition, f)
    this.#options.pause([partition])
    this.#options.onFreeze(f)
    return 'stop'
  }

  async #setAside(partition: number, m: ReadRecord, err: XrcError, action: DeadLetterAction): Promise<void> {
    await this.#options.deadLetter({
      partition,
      offset: Number(m.offset),
      value: m.value,
      headers: m.headers as RecordHeaders | undefined,
      code: err.code,
      message: err.message,
      action,
    })
  }

  #fail(err: unknown): Verdict {
    if (!this.#open) return 'stop'
    this.#open = false
    if (isXrcError(err) && err.retriable) this.#options.onRestart(err)
    else this.#options.onHalt(err)
    return 'stop'
  }

  #claimsNext(partition: number, seqs: ClaimedSeqs | undefined): boolean {
    return claimsNextSeq(partition, seqs, this.#options.controllers, this.#former.expectedSeq(partition))
  }

  #noted(outcome: AddOutcome): void {
    if (outcome.kind === 'duplicate') {
      this.#duplicates++
      this.#metrics.duplicateRecordSets.inc()
    }
    if (outcome.kind === 'duplicate' || outcome.kind === 'overlap')
      this.#metrics.duplicateUpdates.inc(outcome.droppedUpdates)
  }
}

/** For logs: a message naming a frozen controller and the operator action that resumes it. */
export function frozenMessage(f: FrozenController): string {
  return (
    `controller ${f.controller} frozen at updates partition ${f.partition} offset ${f.offset} [${f.code}]: ` +
    `${f.message}; the consistency time waits for it until an operator runs ` +
    `\`xrc session resume --controller ${f.controller}\` ` +
    '(add --discard-missing to accept that its missing seqs are lost)'
  )
}
