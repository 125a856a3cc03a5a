/**
 * The bound on a group's size (mover.groupMaxBytes), pure: a backlog never
 * makes one huge group, and a bounded group is still a consistency group
 * (every write up to its time, nothing later).
 */
import type { TakenUpdate } from '../../schemas/journalOrder.js'

/** A write taken into a group, with its block bytes. */
export type SizedUpdate = TakenUpdate & { bytes: number }

/**
 * The writes of a group cut at T = `t`, bounded to `maxBytes`: when they
 * exceed it, the group is cut at the earlier T' = the time of the last write
 * that fits (at least the first write's time), and every write at T' is
 * taken. Pure; `taken` may be reordered.
 */
export function boundGroup<X extends SizedUpdate>(
  taken: X[],
  t: number,
  maxBytes: number | undefined,
): { time: number; taken: X[] } {
  if (maxBytes === undefined || taken.length === 0) return { time: t, taken }
  taken.sort((a, b) => a.update.time - b.update.time)
  let sum = 0
  const over = taken.findIndex((x) => (sum += x.bytes) > maxBytes)
  if (over < 0) return { time: t, taken }
  const time = (taken[Math.max(over - 1, 0)] as X).update.time
  return { time, taken: taken.filter((x) => x.update.time <= time) }
}
