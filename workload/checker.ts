/**
 * The prefix-consistency checker (invariant 1). Given what the workload
 * wrote and one consistent observation of the secondary at consistency time
 * T, it says whether the secondary holds exactly the primary's writes with
 * time <= T, last writer winning per block, and in particular never a
 * dependent write Y without the write X it depends on.
 *
 * Writes whose fate is unknown (in doubt: the producer died mid-request)
 * have no known time; a block may show one of them only where it falls
 * between the last acknowledged write at or before T and the first one
 * after T.
 */
import type { BlockHead } from './blockContent.js'
import { blockKey, type WriteLog } from './writeLog.js'

export interface Observation {
  /** The consistency time of the last applied group. */
  groupTime: number
  /** Heads of the observed blocks, by blockKey(volume, block); missing = never written. */
  heads: ReadonlyMap<string, BlockHead | undefined>
}

export type ViolationKind = 'mixed' | 'dependency' | 'unknown-write'

export interface Violation {
  kind: ViolationKind
  volume: string
  block: number
  message: string
}

/** Checks one observation; an empty array means consistent. */
export function checkObservation(log: WriteLog, obs: Observation): Violation[] {
  const violations: Violation[] = []
  for (const [key, writes] of log.blocks()) {
    const first = writes[0]
    if (!first) continue
    const { volume, block } = first
    const observed = obs.heads.get(key)?.writeId ?? 0
    let expected = -1
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]
      if (w?.status === 'acked' && w.time !== undefined && w.time <= obs.groupTime) expected = i
    }
    let upper = writes.length
    for (let i = expected + 1; i < writes.length; i++) {
      const w = writes[i]
      if (w?.status === 'acked' && w.time !== undefined && w.time > obs.groupTime) {
        upper = i
        break
      }
    }
    const expectedId = expected >= 0 ? (writes[expected]?.id ?? 0) : 0
    if (observed === expectedId) continue
    const k = writes.findIndex((w) => w.id === observed)
    if (observed !== 0 && k < 0) {
      violations.push({
        kind: 'unknown-write',
        volume,
        block,
        message: `${key} holds write ${observed}, which the workload never issued to it`,
      })
      continue
    }
    const allowedInDoubt = k > expected && k < upper && writes[k]?.status === 'indoubt'
    if (!allowedInDoubt) {
      const got =
        observed === 0
          ? 'nothing'
          : `write ${observed}${writes[k]?.time !== undefined ? ` (time ${writes[k]?.time})` : ''}`
      violations.push({
        kind: 'mixed',
        volume,
        block,
        message:
          `${key} at T=${obs.groupTime} holds ${got}, expected ` +
          `${expectedId === 0 ? 'nothing' : `write ${expectedId} (time ${writes[expected]?.time})`}`,
      })
    }
  }
  // never Y without X: checked on its own so a report names the broken dependency
  for (const [key, head] of obs.heads) {
    const dep = head?.dependsOn
    if (!head || !dep) continue
    const depObserved = obs.heads.get(blockKey(dep.volume, dep.block))?.writeId ?? 0
    if (depObserved < dep.writeId) {
      const [volume = '', block = '0'] = key.split('/')
      violations.push({
        kind: 'dependency',
        volume,
        block: Number(block),
        message:
          `${key} holds write ${head.writeId}, which depends on write ${dep.writeId} at ` +
          `${blockKey(dep.volume, dep.block)}, but that block holds ` +
          `${depObserved === 0 ? 'nothing' : `write ${depObserved}`}`,
      })
    }
  }
  return violations
}
