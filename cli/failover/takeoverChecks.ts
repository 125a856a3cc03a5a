/**
 * The preconditions of `xrc failover` and `xrc failback`, as pure
 * decisions over facts the commands gather: the first that does not hold
 * becomes one XrcError naming it and what to do. --force overrides only
 * what an operator can knowingly accept (a primary that answers but is cut
 * off, groups given up); never a takeover by another session or volumes a
 * primary may have written.
 */
import { XrcError } from '../../lib/errors.js'

/** What `xrc failover` found before it changes anything. */
export interface FailoverFacts {
  session: string
  newSession: string
  /** The old primary's API, and whether anything answered there. */
  primaryUrl: string
  primaryAnswers: boolean
  /** The session the old secondary was fenced for already, if any. */
  fencedBy: string | undefined
  /** Groups journaled but not applied after waiting `waitedMs`. */
  groupsNotApplied: number
  waitedMs: number
  /** The new session's primary folder holds controller state (a primary ran there) without a finished failover. */
  targetInUse: boolean
  targetDir: string
  force: boolean
}

/** The refusal the facts call for, or undefined when the failover may go on. */
export function failoverRefusal(f: FailoverFacts): XrcError | undefined {
  const { session, newSession } = f
  if (session === newSession) return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'sameSession', session })
  if (f.fencedBy !== undefined && f.fencedBy !== newSession)
    return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'fencedByOther', session, fencedBy: f.fencedBy, newSession })
  if (f.primaryAnswers && !f.force)
    return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'primaryAnswers', session, url: f.primaryUrl })
  // once fenced (an earlier run), no group can be applied any more: waiting would not help
  if (f.groupsNotApplied > 0 && f.fencedBy === undefined && !f.force)
    return new XrcError('XRC_FAILOVER_REFUSED', {
      reason: 'groupsNotApplied',
      session,
      groups: f.groupsNotApplied,
      waitedMs: f.waitedMs,
    })
  if (f.targetInUse)
    return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'targetInUse', dir: f.targetDir, newSession })
  return undefined
}

/** What `xrc failback` found before it changes anything. */
export interface FailbackFacts {
  /** The session running at the secondary site (made by xrc failover), and its failover record's path. */
  session: string
  failoverRecord: string
  /** Whether that record exists (the session came from a failover). */
  failedOver: boolean
  /** The original site's session (lost), its primary's API and whether anything answers there. */
  originalSession: string
  originalPrimaryUrl: string | undefined
  originalPrimaryAnswers: boolean
  newSession: string
  /** The session the running session's secondary was fenced for already, if any. */
  fencedBy: string | undefined
  /** The original site's volume files that are missing (and were not moved to the new session yet). */
  missingVolumes: readonly { volume: string; file: string }[]
  targetInUse: boolean
  targetDir: string
}

/** The refusal the facts call for, or undefined when the failback may go on. */
export function failbackRefusal(f: FailbackFacts): XrcError | undefined {
  const { session, newSession } = f
  if (!f.failedOver)
    return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'notFailedOver', session, file: f.failoverRecord })
  if (newSession === session || newSession === f.originalSession)
    return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'sameSession', session: newSession })
  if (f.fencedBy !== undefined && f.fencedBy !== newSession)
    return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'fencedByOther', session, fencedBy: f.fencedBy, newSession })
  if (f.originalPrimaryAnswers)
    return new XrcError('XRC_FAILOVER_REFUSED', {
      reason: 'primaryAnswers',
      session: f.originalSession,
      url: f.originalPrimaryUrl ?? '',
    })
  const missing = f.missingVolumes[0]
  if (missing !== undefined)
    return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'volumeMissing', volume: missing.volume, file: missing.file })
  if (f.targetInUse)
    return new XrcError('XRC_FAILOVER_REFUSED', { reason: 'targetInUse', dir: f.targetDir, newSession })
  return undefined
}
