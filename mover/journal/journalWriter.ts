/**
 * Writes consistency groups to the session's journal topic, one Kafka
 * transaction per group: all its parts, plus the updates-topic offsets to
 * resume from (sendOffsets to the mover's group), then commit. A
 * read_committed reader sees a whole group or nothing.
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
 * - Anything else: XRC_JOURNAL_WRITE_FAILED, with `committed: 'no'` before
 *   the commit was sent and `'unknown'` after. Either way the writer is
 *   unusable until `open()` makes a new producer: a delayed commit or abort
 *   of the old one must never land on a later transaction (Jepsen, 2024,
 *   kafka). InitProducerId in `open()` settles the old transaction before
 *   it returns; only then may the caller re-read the journal tail to learn
 *   whether the group landed, so no group is journaled twice.
 */
import type { Kafka, Producer } from 'kafkajs'
import { XrcError, errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { ConsistencyGroup, JournalRecord } from '../../schemas/journal.js'
import { moverGroupId, moverTransactionalId } from '../../schemas/topicNames.js'
import { journalHeaders, splitGroup } from './journalParts.js'

/** Fault injection points, for tests of what happens around a commit. */
export interface JournalWriterHooks {
  /** After the parts and offsets were sent, before the commit. A throw fails the write before the commit. */
  beforeCommit?: (group: ConsistencyGroup) => Promise<void> | void
  /** Right after the commit was issued, before its answer is awaited (the commit goes on meanwhile). */
  duringCommit?: (group: ConsistencyGroup) => Promise<void> | void
  /** After the commit returned. A throw makes a group that landed look failed (an indefinite error). */
  afterCommit?: (group: ConsistencyGroup) => Promise<void> | void
}

export interface JournalWriterOptions {
  kafka: Kafka
  session: string
  /** The journal topic (one partition). */
  topic: string
  /** The updates topic whose offsets are committed with each group. */
  updatesTopic: string
  codec: AvroCodec<JournalRecord>
  maxRecordBytes: number
  transactionTimeoutMs: number
  logger: Logger
  hooks?: JournalWriterHooks
}

/** What a journaled group took. */
export interface JournalWriteResult {
  parts: number
  /** Encoded bytes of all parts. */
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
   * Journals `group` in one transaction with its marks' resume offsets.
   * Resolves only once the commit succeeded. Throws XRC_FENCED (fatal),
   * XRC_CLOSED (aborted by `abortInFlight`) or XRC_JOURNAL_WRITE_FAILED;
   * after any throw, call `open()` before the next write.
   */
  write(group: ConsistencyGroup): Promise<JournalWriteResult>
  /** From now on, a write aborts instead of committing (if its commit was not sent yet): the mover is stopping. */
  abortInFlight(): void
  close(): Promise<void>
}

/** Whether a kafkajs error (or one it wraps) says this producer's epoch is no longer current. */
export function isFencedError(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false
  const e = err as { type?: unknown; code?: unknown; message?: unknown; cause?: unknown; errors?: unknown }
  if (e.type === 'INVALID_PRODUCER_EPOCH' || e.type === 'PRODUCER_FENCED') return true
  // kafkajs 2.2 has no entry for PRODUCER_FENCED (90): it reports an unknown error code
  if (typeof e.message === 'string' && /Unknown error code 90\b/.test(e.message)) return true
  if (isFencedError(e.cause, depth + 1)) return true
  return Array.isArray(e.errors) && e.errors.some((x) => isFencedError(x, depth + 1))
}

export function createJournalWriter(options: JournalWriterOptions): JournalWriter {
  const transactionalId = moverTransactionalId(options.session)
  const log = options.logger.child({ component: 'journal-writer', topic: options.topic })
  let producer: Producer | undefined
  let state: 'closed' | 'ready' | 'busy' | 'broken' = 'broken'
  let abortRequested = false
  let fenced = false

  async function dropProducer(): Promise<void> {
    const old = producer
    producer = undefined
    // a failed disconnect leaves nothing to undo: the next InitProducerId fences whatever it still holds
    await old
      ?.disconnect()
      .catch((err: unknown) => log.warn({ err }, 'disconnecting the old transactional producer failed'))
  }

  return {
    async open() {
      if (state === 'closed') throw new XrcError('XRC_CLOSED', 'journal writer closed')
      if (state === 'busy') throw new XrcError('XRC_USAGE', 'journal writer reopened while a write is in progress')
      if (fenced)
        throw new XrcError(
          'XRC_FENCED',
          `transactional id ${transactionalId} was taken over by another mover; this one commits nothing more`,
        )
      state = 'broken'
      await dropProducer()
      const p = options.kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: options.transactionTimeoutMs,
        // bounded: a transaction that fails is abandoned with its producer, never retried in place
        retry: { retries: 5 },
      })
      producer = p
      await p.connect()
      // kafkajs sends InitProducerId on a producer's first transaction: ending an empty one claims the id now
      const tx = await p.transaction()
      await tx.abort()
      state = 'ready'
      log.info({ transactionalId }, 'claimed the transactional id')
    },

    async write(group) {
      if (state !== 'ready' || producer === undefined) {
        throw new XrcError(
          state === 'closed' ? 'XRC_CLOSED' : 'XRC_USAGE',
          `journal writer is ${state}: open() it before writing a group`,
        )
      }
      const parts = splitGroup(group, options.maxRecordBytes)
      const messages = parts.map((record) => {
        const value = options.codec.encode(record)
        if (value.length > options.maxRecordBytes) {
          throw new XrcError(
            'XRC_RECORD_TOO_LARGE',
            `journal part ${record.part} of group ${group.groupSeq} is ${value.length} bytes, over ${options.maxRecordBytes} (a sizing bug)`,
          )
        }
        return { partition: 0, key: String(group.groupSeq), value, headers: journalHeaders(record) }
      })
      const context = { session: group.session, groupSeq: group.groupSeq, groupTime: String(group.groupTime) }
      state = 'busy'
      const began = Date.now()
      let phase: 'begin' | 'send' | 'commit' | 'committed' = 'begin'
      const tx = await producer.transaction().catch((err: unknown) => {
        state = 'broken'
        throw fail(err, phase)
      })
      try {
        phase = 'send'
        // one request per part: the broker's max.message.bytes bounds a record batch, and kafkajs
        // puts all the messages of one send to a partition in one batch
        for (const message of messages) await tx.send({ topic: options.topic, acks: -1, messages: [message] })
        await tx.sendOffsets({
          consumerGroupId: moverGroupId(options.session),
          topics: [
            {
              topic: options.updatesTopic,
              partitions: group.controllers.map((m) => ({ partition: m.controller, offset: String(m.resumeOffset) })),
            },
          ],
        })
        await options.hooks?.beforeCommit?.(group)
        if (abortRequested) {
          await tx.abort()
          throw new XrcError('XRC_CLOSED', `group ${group.groupSeq} aborted: the mover is stopping`, { context })
        }
        phase = 'commit'
        const committing = tx.commit()
        if (options.hooks?.duringCommit) {
          committing.catch(() => undefined) // awaited below
          await options.hooks.duringCommit(group)
        }
        await committing
        phase = 'committed'
        await options.hooks?.afterCommit?.(group)
      } catch (err) {
        state = 'broken'
        if (phase === 'send' && tx.isActive()) {
          // not needed for safety (the next InitProducerId aborts it) but frees the broker's transaction early
          await tx
            .abort()
            .catch((abortErr: unknown) => log.debug({ err: abortErr }, 'abort after a failed send failed too'))
        }
        throw fail(err, phase)
      }
      state = 'ready'
      return { parts: parts.length, bytes: messages.reduce((n, m) => n + m.value.length, 0) }

      function fail(err: unknown, at: typeof phase): XrcError {
        if (err instanceof XrcError && err.code === 'XRC_CLOSED') return err
        const elapsed = Date.now() - began
        if (isFencedError(err) && elapsed >= options.transactionTimeoutMs) {
          log.warn(
            { elapsedMs: elapsed, transactionTimeoutMs: options.transactionTimeoutMs, groupSeq: group.groupSeq },
            'the transaction outlived its timeout and the broker aborted it; claiming the transactional id again',
          )
          return new XrcError(
            'XRC_JOURNAL_WRITE_FAILED',
            `journaling group ${group.groupSeq} (T=${group.groupTime}) failed at ${at}: the transaction was open ${elapsed} ms, past mover.transactionTimeoutMs (${options.transactionTimeoutMs}), and the broker aborted it; committed: no`,
            {
              cause: err,
              context: { ...context, committed: 'no', expired: true },
            },
          )
        }
        if (isFencedError(err)) {
          fenced = true
          return new XrcError(
            'XRC_FENCED',
            `transactional id ${transactionalId} was taken over by another mover (or the broker expired the transaction); group ${group.groupSeq} is not journaled by this mover`,
            { cause: err, context },
          )
        }
        const committed = at === 'commit' || at === 'committed' ? 'unknown' : 'no'
        return new XrcError(
          'XRC_JOURNAL_WRITE_FAILED',
          `journaling group ${group.groupSeq} (T=${group.groupTime}) failed ${at === 'committed' ? 'after' : 'at'} ${at}: ${errorMessage(err)}; committed: ${committed}`,
          {
            cause: err,
            context: { ...context, committed },
          },
        )
      }
    },

    abortInFlight() {
      abortRequested = true
    },

    async close() {
      if (state === 'closed') return
      state = 'closed'
      await dropProducer()
    },
  }
}
