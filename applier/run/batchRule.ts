/**
 * Which ready groups the applier applies together in one PostgreSQL
 * transaction, as a pure decision. The head group is always taken (alone if
 * need be); each next one joins while:
 * - the batch holds fewer than `maxGroups` groups;
 * - it follows the one before it: the next group seq, a later time and a
 *   later journal offset (anything else, a gap included, ends the batch, so
 *   the groups before it commit and the store then judges it on its own);
 * - the block data stays within `maxBytes` (the head may exceed it alone);
 * - the stop point allows it (replay): the one before it did not reach the
 *   stop point, and it is not past it.
 * Groups of the older format join like markers: the batch keeps journal
 * order, so what the older format carries is applied in its place.
 */
import { stepAfter, stepBefore, type StopAt } from './groupSteps.js'

export interface BatchLimits {
  /** Block data bytes at most in one transaction (0: one group per transaction). */
  maxBytes: number
  /** Groups at most in one transaction (>= 1). */
  maxGroups: number
  /** Replay's stop point (a consistency time in microseconds and/or a group seq), if any. */
  stopAt?: StopAt
}

/** What the rule looks at of a group. */
export interface BatchCandidate {
  groupSeq: number
  groupTime: number
  /** Journal offset of the group's last record. */
  lastOffset: number
  /** Bytes of block data the group writes. */
  bytes: number
}

/** The batch collected so far: its size and its last group. */
export interface BatchSoFar {
  groups: number
  bytes: number
  last: BatchCandidate
}

/** Whether `next` joins the batch `sofar` (see the file comment). */
export function joinsBatch(sofar: BatchSoFar, next: BatchCandidate, limits: BatchLimits): boolean {
  const { last } = sofar
  if (sofar.groups >= limits.maxGroups) return false
  if (next.groupSeq !== last.groupSeq + 1 || next.groupTime <= last.groupTime || next.lastOffset <= last.lastOffset)
    return false
  if (sofar.bytes + next.bytes > limits.maxBytes) return false
  return stepAfter(last, limits.stopAt ?? {}) === 'next' && stepBefore(next, limits.stopAt ?? {}) === 'apply'
}

/** The batch with `next` added. */
export function addToBatch(sofar: BatchSoFar | undefined, next: BatchCandidate): BatchSoFar {
  return { groups: (sofar?.groups ?? 0) + 1, bytes: (sofar?.bytes ?? 0) + next.bytes, last: next }
}

/**
 * How many of `ready` (in journal order, all resolved) form the first batch:
 * the head, then each next one while {@link joinsBatch} holds. 0 only when
 * `ready` is empty or its head is past the stop time.
 */
export function batchLength(ready: readonly BatchCandidate[], limits: BatchLimits): number {
  const head = ready[0]
  if (head === undefined || stepBefore(head, limits.stopAt ?? {}) === 'stop-time') return 0
  let sofar = addToBatch(undefined, head)
  let n = 1
  for (const next of ready.slice(1)) {
    if (!joinsBatch(sofar, next, limits)) break
    sofar = addToBatch(sofar, next)
    n++
  }
  return n
}
