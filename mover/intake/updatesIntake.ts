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
 */
import type { IHeaders, KafkaMessage } from 'kafkajs'
import type { PartitionBatch } from '../../lib/kafka/index.js'
import { type XrcError, isXrcError, type ErrorCode } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { ResumeCommand } from '../../schemas/control.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { HEADERS } from '../../schemas/topicNames.js'
import type { DeadLetter, DeadLetterAction } from './deadLetters.js'
import type { AddOutcome, DiscardedSeqs, GroupFormer } from '../groups/index.js'
import type { MoverMetrics } from '../moverMetrics.js'
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
  groupMaxBytes: number
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
  /** A group of groupMaxBytes is ready to cut. */
  onFull(): void
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
}

const BAD_INPUT: readonly ErrorCode[] = ['XRC_DECODE_FAILED', 'XRC_INVALID_RECORD', 'XRC_RECORD_TOO_LARGE']

type Verdict = 'next' | 'stop'

export function createUpdatesIntake(options: UpdatesIntakeOptions): UpdatesIntake {
  const { former, metrics, maxBufferedBytes } = options
  const log = options.logger
  // kafkajs re-delivers from the private group's start after restarting a crashed consumer
  const lastFed = new Map([...options.startOffsets].map(([p, o]) => [p, o - 1]))
  const paused = new Set<number>()
  const frozen = new Map<number, FrozenController>()
  const lag = new Map<number, number>()
  let duplicates = 0
  let open = true

  function fail(err: unknown): Verdict {
    if (!open) return 'stop'
    open = false
    if (isXrcError(err) && err.retriable) options.onRestart(err)
    else options.onHalt(err)
    return 'stop'
  }

  async function setAside(partition: number, m: KafkaMessage, err: XrcError, action: DeadLetterAction): Promise<void> {
    await options.deadLetter({
      partition,
      offset: Number(m.offset),
      value: m.value,
      headers: m.headers as IHeaders | undefined,
      code: err.code,
      message: err.message,
      action,
    })
  }

  /** Whether a record's seqs (from its body, or its headers when it did not decode) reach the controller's next seq. */
  function claimsNext(
    partition: number,
    seqs: { controller: number; firstSeq: number; lastSeq: number } | undefined,
  ): boolean {
    if (seqs === undefined || seqs.controller !== partition || !options.controllers.includes(partition)) return false
    const expected = former.expectedSeq(partition)
    return expected === undefined || seqs.lastSeq >= expected
  }

  function noted(outcome: AddOutcome): void {
    if (outcome.kind === 'duplicate') {
      duplicates++
      metrics.duplicateRecordSets.inc()
    }
    if (outcome.kind === 'duplicate' || outcome.kind === 'overlap') metrics.duplicateUpdates.inc(outcome.droppedUpdates)
  }

  /** The controller's stream is broken at this record: apply the operator's decision, or freeze it. */
  async function breakAt(
    partition: number,
    m: KafkaMessage,
    err: XrcError,
    rs: RecordSet | undefined,
    takeable: boolean,
  ): Promise<Verdict> {
    const offset = Number(m.offset)
    await setAside(partition, m, err, 'frozen')
    const decision = options.decision(partition, offset)
    if (decision === undefined) {
      const f: FrozenController = {
        controller: partition,
        partition,
        offset,
        code: err.code,
        message: err.message,
        expectedSeq: former.expectedSeq(partition),
        takeable,
        since: new Date().toISOString(),
      }
      frozen.set(partition, f)
      options.pause([partition])
      options.onFreeze(f)
      return 'stop'
    }
    log.warn(
      { partition, offset, discardMissing: decision.discardMissing, requestedBy: decision.requestedBy },
      'resuming a frozen controller as the operator decided',
    )
    if (decision.discardMissing) former.discardMissing(partition)
    // a gap's record is the stream's next one once the missing seqs are given up
    if (takeable && decision.discardMissing && rs !== undefined) return feed(partition, m, rs, decision)
    former.skipped(partition, offset)
    return 'next'
  }

  async function take(partition: number, m: KafkaMessage): Promise<Verdict> {
    const offset = Number(m.offset)
    let rs: RecordSet
    try {
      rs = await decodeRecordSet(m, partition, options.codec, options.maxRecordSetBytes)
    } catch (err) {
      if (!isXrcError(err) || !BAD_INPUT.includes(err.code)) return fail(err)
      // it does not decode: only its headers can say whose seqs it held
      if (claimsNext(partition, headerSeqs(m)) || claimsNext(partition, decodedSeqs(err)))
        return breakAt(partition, m, err, undefined, false)
      await setAside(partition, m, err, 'skipped')
      former.skipped(partition, offset)
      return 'next'
    }
    return feed(partition, m, rs, undefined)
  }

  async function feed(
    partition: number,
    m: KafkaMessage,
    rs: RecordSet,
    decision: ResumeCommand | undefined,
  ): Promise<Verdict> {
    const offset = Number(m.offset)
    try {
      const outcome = former.add(offset, rs)
      if (outcome.discarded) {
        metrics.discardedSeqs.inc(outcome.discarded.lastSeq - outcome.discarded.firstSeq + 1)
        if (decision) options.onDiscard(outcome.discarded, decision)
      }
      noted(outcome)
      return 'next'
    } catch (err) {
      if (!isXrcError(err)) return fail(err)
      switch (err.code) {
        case 'XRC_DUPLICATE_SEQUENCE':
          await setAside(partition, m, err, 'dropped')
          former.skipped(partition, offset)
          return 'next'
        case 'XRC_SEQUENCE_GAP':
          return breakAt(partition, m, err, rs, true)
        case 'XRC_TIME_REGRESSION':
          return breakAt(partition, m, err, rs, false)
        case 'XRC_INVALID_RECORD': {
          if (claimsNext(partition, rs)) return breakAt(partition, m, err, rs, false)
          await setAside(partition, m, err, 'dropped') // seqs already taken: a broken re-send
          former.skipped(partition, offset)
          return 'next'
        }
        default:
          return fail(err)
      }
    }
  }

  return {
    async onBatch(batch) {
      const { partition } = batch
      for (const message of batch.messages) {
        if (!open || frozen.has(partition)) return
        const offset = Number(message.offset)
        if (offset <= (lastFed.get(partition) ?? -1)) continue
        let verdict: Verdict
        try {
          verdict = await take(partition, message)
        } catch (err) {
          // the dead-letter topic out of reach: the record is read again after the restart
          fail(err)
          return
        }
        if (verdict === 'stop') return
        lastFed.set(partition, offset)
      }
      if (!open) return
      const last = batch.messages[batch.messages.length - 1]
      if (last !== undefined) {
        const behind = Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1)
        lag.set(partition, behind)
        metrics.partitionLag.set({ partition: String(partition) }, behind)
      }
      const buffered = former.bufferedBytes(partition)
      metrics.bufferedBytes.set({ partition: String(partition) }, buffered)
      if (buffered > maxBufferedBytes && !paused.has(partition)) {
        paused.add(partition)
        options.pause([partition])
        metrics.pausedPartitions.set(paused.size)
        log.debug({ partition, buffered }, 'partition paused: buffer full')
      }
      if (former.cuttableBytes(options.groupMaxBytes) >= options.groupMaxBytes) options.onFull()
    },

    drained(partitions) {
      for (const p of partitions) metrics.bufferedBytes.set({ partition: String(p) }, former.bufferedBytes(p))
      // resume below half the bound, so a partition does not flap at the edge; a frozen one stays paused
      const ready = [...paused].filter((p) => former.bufferedBytes(p) <= maxBufferedBytes / 2 && !frozen.has(p))
      for (const p of ready) paused.delete(p)
      if (ready.length > 0) {
        options.resume(ready)
        log.debug({ partitions: ready }, 'partitions resumed')
      }
      metrics.pausedPartitions.set(paused.size)
    },

    close() {
      open = false
    },

    paused: () => [...new Set([...paused, ...frozen.keys()])].sort((a, b) => a - b),
    lag: () => Object.fromEntries([...lag].map(([p, n]) => [String(p), n])),
    duplicateRecordSets: () => duplicates,
    frozen: () => [...frozen.values()],
  }
}

/** Controller and seqs from a record's Kafka headers (the producer sets them), when all are there. */
function headerSeqs(m: KafkaMessage): { controller: number; firstSeq: number; lastSeq: number } | undefined {
  const get = (name: string): number => Number(m.headers?.[name]?.toString() ?? Number.NaN)
  const controller = get(HEADERS.controller)
  const firstSeq = get(HEADERS.firstSeq)
  const lastSeq = get(HEADERS.lastSeq)
  return [controller, firstSeq, lastSeq].every(Number.isSafeInteger) ? { controller, firstSeq, lastSeq } : undefined
}

/** Controller and seqs of a record set that decoded but disagrees with its partition or headers (decodeRecordSet puts them in the context). */
function decodedSeqs(err: XrcError): { controller: number; firstSeq: number; lastSeq: number } | undefined {
  const { controller, firstSeq, lastSeq } = err.context
  return [controller, firstSeq, lastSeq].every((n) => typeof n === 'number' && Number.isSafeInteger(n))
    ? { controller: controller as number, firstSeq: firstSeq as number, lastSeq: lastSeq as number }
    : undefined
}

/** For logs: a message naming a frozen controller and the operator action that resumes it. */
export function frozenMessage(f: FrozenController): string {
  return `controller ${f.controller} frozen at updates partition ${f.partition} offset ${f.offset} [${f.code}]: ${f.message}; the consistency time waits for it until an operator runs \`xrc session resume --controller ${f.controller}\` (add --discard-missing to accept that its missing seqs are lost)`
}
