/**
 * Writes consistency groups to the session's journal topic as markers
 * (schemas/markers.ts): one record per group, one send, in its own Kafka
 * transaction, then commit. The updates stay on the updates topic; the
 * marker names them, and carries the controller marks a restarting mover
 * resumes from, so no input offsets are committed (no sendOffsets: the
 * journal's tail is the mover's position). A read_committed reader sees a
 * group or nothing.
 *
 * Failure model:
 * - Fenced: the broker says our producer epoch is old (kafkajs's request
 *   versions get INVALID_PRODUCER_EPOCH both when another mover claimed the
 *   transactional id and when the broker expired our transaction past
 *   mover.transactionTimeoutMs). Before the timeout only a takeover can
 *   explain it: XRC_FENCED, fatal, the writer commits nothing more. At or
 *   past the timeout the transaction expired (a paused mover): it was
 *   aborted, so XRC_JOURNAL_WRITE_FAILED with `committed: 'no'`, and open()
 *   claims the id again. (A mover paused past the timeout while a second
 *   one took over cannot tell the two apart: it claims the id back and the
 *   second mover is the one fenced. One mover journals either way, and each
 *   re-reads the tail after claiming, so the journal stays whole.)
 * - A call of the Kafka client that has not settled within its deadline
 *   (lib/kafka/callDeadline.ts: a transactional call to a broker that died
 *   under it can stay pending for good) fails the write or the open() like
 *   any other error; the producer is dropped without waiting on it.
 * - Anything else: XRC_JOURNAL_WRITE_FAILED, with `committed: 'no'` before
 *   the commit was sent and `'unknown'` after. Either way the writer is
 *   unusable until `open()` makes a new producer: a delayed commit or abort
 *   of the old one must never land on a later transaction (Jepsen, 2024,
 *   kafka). InitProducerId in `open()` settles the old transaction before
 *   it returns; only then may the caller re-read the journal tail to learn
 *   whether the group landed, so no group is journaled twice.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import { XrcError } from '../../lib/errors.js'
import {
  type KafkaClientName,
  type ProduceRecord,
  type ProducerTransaction,
  type TransactionalProducer,
  createTransactionalProducer,
} from '../../lib/kafka/client/index.js'
import { KAFKA_CALL_DEADLINE_MS, withinDeadline } from '../../lib/kafka/index.js'
import { settleWithin } from '../../lib/stage.js'
import type { Logger } from '../../lib/logger.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { ConsistencyGroup, JournalRecord } from '../../schemas/journal.js'
import { moverTransactionalId } from '../../schemas/topicNames.js'
import { markerBytes } from '../../schemas/wireSizes.js'
import { type FormedGroup, markerOf } from '../groups/index.js'
import { journalHeaders } from './journalParts.js'
import { type WritePhase, writeFailure } from './writeFailure.js'

/** Fault injection points, for tests of what happens around a commit. */
export interface JournalWriterHooks {
  /** After the marker was sent, before the commit. A throw fails the write before the commit. */
  beforeCommit?: (group: ConsistencyGroup) => Promise<void> | void
  /** Right after the commit was issued, before its answer is awaited (the commit goes on meanwhile). */
  duringCommit?: (group: ConsistencyGroup) => Promise<void> | void
  /** After the commit returned. A throw makes a group that landed look failed (an indefinite error). */
  afterCommit?: (group: ConsistencyGroup) => Promise<void> | void
}

export interface JournalWriterOptions {
  kafka: KafkaClient
  /** The library of the transactional producer; kafkajs when unset. */
  client?: KafkaClientName
  session: string
  /** The journal topic (one partition). */
  topic: string
  codec: AvroCodec<JournalRecord>
  maxRecordBytes: number
  transactionTimeoutMs: number
  logger: Logger
  hooks?: JournalWriterHooks
  /** How long one call of the Kafka client may stay pending (ms); KAFKA_CALL_DEADLINE_MS by default. */
  callDeadlineMs?: number
}

/** What a journaled group took. */
export interface JournalWriteResult {
  /** Journal records written: 1 (the marker). */
  parts: number
  /** Encoded bytes of the marker. */
  bytes: number
}

export interface JournalWriter {
  /**
   * Makes a new transactional producer and claims the transactional id
   * (InitProducerId): fences any older mover and settles (commits or aborts)
   * whatever an earlier producer of the id left open. Call before reading
   * the journal tail, and again after any failed write.
   */
  open(): Promise<void>
  /**
   * Journals `group`'s marker in one transaction. Resolves only once the commit succeeded. Throws XRC_FENCED (fatal),
   * XRC_CLOSED (aborted by `abortInFlight`) or XRC_JOURNAL_WRITE_FAILED;
   * after any throw, call `open()` before the next write.
   */
  write(group: FormedGroup): Promise<JournalWriteResult>
  /** From now on, a write aborts instead of committing (if its commit was not sent yet): the mover is stopping. */
  abortInFlight(): void
  close(): Promise<void>
}

/**
 * The transactional producer's retries. A group's transaction begins right after the previous one's commit,
 * while the broker may still be writing that commit's markers: its AddPartitionsToTxn then answers
 * CONCURRENT_TRANSACTIONS, which kafkajs retries after initialRetryTime (300 ms by default, so one such
 * answer cost a group 300 ms: p99 of 300 back-to-back transactions on this machine 340 ms, 17-68 ms with 10 ms).
 * Bounded: about 10 s of retries in all (as with the defaults before), then the write fails and the
 * transaction is abandoned with its producer, never retried in place.
 */
export const JOURNAL_PRODUCER_RETRY = { retries: 12, retryDelayMs: 10 } as const

/** How long dropping a producer waits for its disconnect (a dead broker may never answer it). */
const DROP_PRODUCER_MS = 5000

/** A journal record ready to send. */
type JournalMessage = ProduceRecord & { value: Buffer }

export function createJournalWriter(options: JournalWriterOptions): JournalWriter {
  return new TransactionalJournalWriter(options)
}

/**
 * The writer's states: 'broken' until open() claimed the id (and after any
 * failed write), 'ready' between writes, 'busy' during one, 'closed' for
 * good. Fenced is final: open() refuses from then on.
 */
class TransactionalJournalWriter implements JournalWriter {
  readonly #options: JournalWriterOptions
  readonly #transactionalId: string
  readonly #log: Logger
  #producer: TransactionalProducer | undefined
  #state: 'closed' | 'ready' | 'busy' | 'broken' = 'broken'
  #abortRequested = false
  #fenced = false

  constructor(options: JournalWriterOptions) {
    this.#options = options
    this.#transactionalId = moverTransactionalId(options.session)
    this.#log = options.logger.child({ component: 'journal-writer', topic: options.topic })
  }

  async open(): Promise<void> {
    if (this.#state === 'closed') throw new XrcError('XRC_CLOSED', { component: 'journal writer' })
    if (this.#state === 'busy') throw new XrcError('XRC_USAGE', { reason: 'journalWriterBusy' })
    if (this.#fenced) throw new XrcError('XRC_FENCED', { transactionalId: this.#transactionalId })
    this.#state = 'broken'
    await this.#dropProducer()
    const { kafka, client, transactionTimeoutMs } = this.#options
    const p = createTransactionalProducer(kafka, {
      library: client ?? 'kafkajs',
      clientId: `${this.#transactionalId}.producer`,
      transactionalId: this.#transactionalId,
      transactionTimeoutMs,
      ...JOURNAL_PRODUCER_RETRY,
    })
    this.#producer = p
    await this.#call(p.connect(), 'connect')
    // InitProducerId goes with a producer's first transaction: ending an empty one claims the id now
    const tx = await this.#call(p.begin(), 'InitProducerId')
    await this.#call(tx.abort(), 'the abort of an empty transaction')
    this.#state = 'ready'
    this.#log.info({ transactionalId: this.#transactionalId }, 'claimed the transactional id')
  }

  async write(group: FormedGroup): Promise<JournalWriteResult> {
    const producer = this.#readyProducer()
    const message = this.#message(group)
    this.#state = 'busy'
    const attempt = { began: Date.now(), phase: 'begin' as WritePhase }
    let tx: ProducerTransaction
    try {
      tx = await this.#call(producer.begin(), 'the begin of a transaction')
    } catch (err) {
      this.#state = 'broken'
      throw this.#failure(err, attempt, group)
    }
    try {
      await this.#sendAndCommit(tx, group, message, attempt)
    } catch (err) {
      this.#state = 'broken'
      if (attempt.phase === 'send' && tx.isActive()) {
        // not needed for safety (the next InitProducerId aborts it) but frees the broker's transaction early
        await this.#call(tx.abort(), 'the abort after a failed send').catch((abortErr: unknown) =>
          this.#log.debug({ err: abortErr }, 'abort after a failed send failed too'),
        )
      }
      throw this.#failure(err, attempt, group)
    }
    this.#state = 'ready'
    return { parts: 1, bytes: message.value.length }
  }

  abortInFlight(): void {
    this.#abortRequested = true
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    await this.#dropProducer()
  }

  #readyProducer(): TransactionalProducer {
    if (this.#state !== 'ready' || this.#producer === undefined) {
      if (this.#state === 'closed') throw new XrcError('XRC_CLOSED', { component: 'journal writer' })
      throw new XrcError('XRC_USAGE', {
        reason: 'notOpen',
        component: 'journal writer',
        state: this.#state,
        what: 'writing a group',
      })
    }
    return this.#producer
  }

  /**
   * The group's marker, encoded. Over the bound it is a sizing bug: the
   * former bounds the set-aside offsets (markerSetAsideRoom) and the marks
   * and ranges are checked against the setting at start.
   */
  #message(group: FormedGroup): JournalMessage {
    const { codec, maxRecordBytes } = this.#options
    const marker: JournalRecord = markerOf(group)
    const value = codec.encode(marker)
    if (value.length > maxRecordBytes) {
      throw new XrcError('XRC_RECORD_TOO_LARGE', {
        reason: 'journalMarkerSize',
        groupSeq: group.groupSeq,
        bytes: value.length,
        bound: markerBytes(marker),
        maxBytes: maxRecordBytes,
      })
    }
    return { partition: 0, key: String(group.groupSeq), value, headers: journalHeaders(marker) }
  }

  /** The marker in `tx`, then the commit (or an abort when the mover is stopping). */
  async #sendAndCommit(
    tx: ProducerTransaction,
    group: ConsistencyGroup,
    message: JournalMessage,
    attempt: { phase: WritePhase },
  ): Promise<void> {
    const { hooks } = this.#options
    attempt.phase = 'send'
    await this.#call(tx.send(this.#options.topic, [message]), `the send of group ${group.groupSeq}`)
    await hooks?.beforeCommit?.(group)
    if (this.#abortRequested) {
      await this.#call(tx.abort(), `the abort of group ${group.groupSeq}`)
      throw new XrcError('XRC_CLOSED', {
        reason: 'groupAborted',
        session: group.session,
        groupSeq: group.groupSeq,
        groupTime: String(group.groupTime),
      })
    }
    attempt.phase = 'commit'
    const committing = this.#call(tx.commit(), `the commit of group ${group.groupSeq}`)
    if (hooks?.duringCommit) {
      committing.catch(() => undefined) // awaited below
      await hooks.duringCommit(group)
    }
    await committing
    attempt.phase = 'committed'
    await hooks?.afterCommit?.(group)
  }

  #failure(err: unknown, attempt: { began: number; phase: WritePhase }, group: ConsistencyGroup): XrcError {
    const { transactionTimeoutMs } = this.#options
    const elapsedMs = Date.now() - attempt.began
    const failure = writeFailure({
      err,
      phase: attempt.phase,
      elapsedMs,
      transactionTimeoutMs,
      group,
      transactionalId: this.#transactionalId,
    })
    if (failure.code === 'XRC_FENCED') this.#fenced = true
    if (failure.context.expired) {
      this.#log.warn(
        { elapsedMs, transactionTimeoutMs, groupSeq: group.groupSeq },
        'the transaction outlived its timeout and the broker aborted it; claiming the transactional id again',
      )
    }
    return failure
  }

  /** `work`, failed once it has been pending past the call deadline (the producer is then dropped by open()). */
  #call<T>(work: Promise<T>, what: string): Promise<T> {
    return withinDeadline(work, this.#options.callDeadlineMs ?? KAFKA_CALL_DEADLINE_MS, what)
  }

  async #dropProducer(): Promise<void> {
    const old = this.#producer
    this.#producer = undefined
    if (old === undefined) return
    // a failed or hung disconnect leaves nothing to undo: the next InitProducerId fences whatever it still holds
    const disconnected = old
      .close()
      .catch((err: unknown) => this.#log.warn({ err }, 'disconnecting the old transactional producer failed'))
    if (!(await settleWithin(disconnected, DROP_PRODUCER_MS)))
      this.#log.warn({ waitedMs: DROP_PRODUCER_MS }, 'the old transactional producer did not disconnect; left behind')
  }
}
