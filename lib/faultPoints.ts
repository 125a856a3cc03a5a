/**
 * Fault points: named places in the services where the fault suite makes a
 * real process die or stop at an exact moment (between a Kafka send and
 * its commit, inside a PostgreSQL transaction), which a signal sent from
 * outside could only hit by luck.
 *
 * Set by `faults.point` (environment XRC_FAULT_POINT) as
 * `<point>:<action>[:<n>]`: at the n-th time (default 1) the process
 * reaches <point> it does <action>:
 *   kill   SIGKILL itself (no cleanup, no flush: a crash)
 *   stop   SIGSTOP itself, and go on when sent SIGCONT (a paused process)
 * Unset (the default) every point is a no-op. Production code calls
 * `reach(name)`; it never asks whether it runs under test.
 */
import { XrcError } from './errors.js'
import type { Logger } from './logger.js'

/** Every point the services offer; the config rejects any other name. */
export const FAULT_POINTS = [
  /** Applier: the group's rows, control row and history row are written; COMMIT is next. */
  'applier.before-commit',
  /** Applier: COMMIT returned; nothing else happened yet. */
  'applier.after-commit',
  /** Snapshots: a delete or a retention run has deleted its snapshots and freed their versions; COMMIT is next. */
  'snapshots.before-commit',
  /** Mover: the group's parts and offsets are sent in its transaction; the commit is next. */
  'mover.before-commit',
  /** Mover: the commit request is on its way (its outcome unknown to the mover). */
  'mover.during-commit',
  /** Mover: the commit returned. */
  'mover.after-commit',
  /** Producer: a record set of writes is in Kafka; the sidefile is not trimmed yet. */
  'producer.after-send',
] as const

export type FaultPointName = (typeof FAULT_POINTS)[number]
export type FaultAction = 'kill' | 'stop'

export interface FaultSpec {
  point: FaultPointName
  action: FaultAction
  /** The occurrence that fires (1 = the first time the point is reached). */
  at: number
}

/** The pattern `faults.point` must match. */
export const FAULT_SPEC_PATTERN = new RegExp(
  `^(${FAULT_POINTS.map((p) => p.replace('.', '\\.')).join('|')}):(kill|stop)(:[1-9][0-9]*)?$`,
)

/** Parses `<point>:<action>[:<n>]`; throws XRC_CONFIG_INVALID otherwise. */
export function parseFaultSpec(text: string): FaultSpec {
  if (!FAULT_SPEC_PATTERN.test(text))
    throw new XrcError('XRC_CONFIG_INVALID', {
      reason: 'faultPoint',
      value: text,
      points: FAULT_POINTS,
      setting: 'faults.point',
    })
  const [point, action, at] = text.split(':')
  return { point: point as FaultPointName, action: action as FaultAction, at: at === undefined ? 1 : Number(at) }
}

export interface FaultPoints {
  /** Does the configured action when `name` is reached for the configured time; else nothing. */
  reach(name: FaultPointName): void
  /** Whether `name` is the configured point (to set up what only that point needs). */
  isArmed(name: FaultPointName): boolean
}

/** A process's fault points from `faults.point` (undefined: none). */
export function createFaultPoints(spec: string | undefined, logger: Logger): FaultPoints {
  if (spec === undefined) return { reach: () => undefined, isArmed: () => false }
  const fault = parseFaultSpec(spec)
  let count = 0
  return {
    isArmed: (name) => name === fault.point,
    reach(name) {
      if (name !== fault.point || ++count !== fault.at) return
      // straight to stderr: an async logger would lose the line to the signal
      const line = { level: 60, msg: 'fault point reached', point: name, action: fault.action, occurrence: count }
      process.stderr.write(`${JSON.stringify({ ...line, pid: process.pid })}\n`)
      logger.flush()
      process.kill(process.pid, fault.action === 'kill' ? 'SIGKILL' : 'SIGSTOP')
    },
  }
}
