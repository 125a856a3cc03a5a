/**
 * What a failed journal write means, pure (see journalWriter.ts's failure
 * model): the error the writer throws, from what failed, at which phase of
 * the transaction, and how long the transaction had been open.
 */
import { XrcError } from '../../lib/errors.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'

/** How far a transaction got: begun, sending parts and offsets, commit sent, commit answered. */
export type WritePhase = 'begin' | 'send' | 'commit' | 'committed'

export interface WriteFailure {
  err: unknown
  phase: WritePhase
  /** How long the transaction had been open when it failed. */
  elapsedMs: number
  transactionTimeoutMs: number
  group: Pick<ConsistencyGroup, 'session' | 'groupSeq' | 'groupTime'>
  transactionalId: string
}

/**
 * The error of a failed write: XRC_CLOSED as it is (the mover is
 * stopping); a fenced epoch at or past the transaction timeout is the
 * broker's abort of an expired transaction (XRC_JOURNAL_WRITE_FAILED,
 * committed: no, expired); before it, a takeover (XRC_FENCED, fatal);
 * anything else XRC_JOURNAL_WRITE_FAILED, committed 'unknown' once the
 * commit was sent and 'no' before.
 */
export function writeFailure(f: WriteFailure): XrcError {
  const { err, phase, group } = f
  if (err instanceof XrcError && err.code === 'XRC_CLOSED') return err
  const context = { session: group.session, groupSeq: group.groupSeq, groupTime: String(group.groupTime) }
  if (isFencedError(err) && f.elapsedMs >= f.transactionTimeoutMs) {
    return new XrcError(
      'XRC_JOURNAL_WRITE_FAILED',
      { reason: 'expired', ...context, phase, elapsedMs: f.elapsedMs, transactionTimeoutMs: f.transactionTimeoutMs },
      { cause: err, context: { committed: 'no', expired: true } },
    )
  }
  if (isFencedError(err)) {
    return new XrcError(
      'XRC_FENCED',
      { reason: 'journalGroup', transactionalId: f.transactionalId, ...context },
      { cause: err },
    )
  }
  const committed = phase === 'commit' || phase === 'committed' ? 'unknown' : 'no'
  return new XrcError('XRC_JOURNAL_WRITE_FAILED', {
    ...(phase === 'committed' ? { reason: 'afterCommit' as const } : { phase }),
    ...context,
    committed,
    cause: err,
  })
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
