/**
 * What the primary may take as confirmed when several secondaries follow
 * one journal, as a pure rule over the latest applied state of each one it
 * has heard on the applied topic (schemas/appliedState.ts; the record key is
 * the secondary's name).
 *
 * The confirmed time is the minimum over every secondary heard: the older
 * change generation is discarded only once every secondary holds its writes,
 * so after a lost journal the change generations still name every block the
 * slowest one (a delayed secondary, one stopped for maintenance) may lack.
 * Letting one designated secondary drive the discard would be safe only
 * while it is the slowest, which nothing guarantees. A secondary that holds
 * no group yet confirms nothing (nothing is discarded while it is heard). A
 * secondary removed for good is forgotten by a tombstone on the applied
 * topic (a null value for its key); until then it holds the discard back, which
 * is the safe direction: both generations are kept, and a resync after a lost
 * journal copies more blocks than needed, never fewer.
 */
import type { AppliedState } from '../../schemas/appliedState.js'

/** The consistency time every secondary heard holds (µs); undefined when none is heard or one holds no group. */
export function confirmedAcross(states: ReadonlyMap<string, AppliedState>): number | undefined {
  let min: number | undefined
  for (const s of states.values()) {
    if (s.groupTime === null) return undefined
    min = min === undefined ? s.groupTime : Math.min(min, s.groupTime)
  }
  return min
}

/** The secondary that holds the confirmation back: one with no group yet, else the one with the oldest time. */
export function slowestSecondary(states: ReadonlyMap<string, AppliedState>): AppliedState | undefined {
  let slowest: AppliedState | undefined
  for (const s of states.values()) {
    if (s.groupTime === null) return s
    if (slowest === undefined || s.groupTime < (slowest.groupTime as number)) slowest = s
  }
  return slowest
}
