/**
 * Watches the secondary while groups are applied: at every new group it
 * sees, it takes one consistent observation and checks it against the
 * workload's writes. Used by the end-to-end tests, the crash tests and
 * `xrc demo`.
 */
import type { Pool } from '../lib/postgres.js'
import { checkObservation, type Violation } from './checker.js'
import { observeSecondary } from './secondaryObserver.js'
import type { WriteLog } from './writeLog.js'

export interface WatchReport {
  /** Distinct groups observed and checked. */
  groupsObserved: number
  /** Observations that were not exactly the primary's writes up to their T. */
  mixedStates: number
  /** The first few violations, for the failure message. */
  samples: Violation[]
  lastGroupSeq: number
  lastGroupTime: number
  /** Observation errors (PostgreSQL unreachable during a fault), not consistency failures. */
  readErrors: number
}

export function watchConsistency(options: {
  pool: Pool
  schema: string
  session: string
  log: WriteLog
  intervalMs?: number
}): {
  stop: () => Promise<WatchReport>
  checkNow: () => Promise<void>
  /** The report so far (live progress); stop() gives the final one. */
  current: () => Readonly<WatchReport>
} {
  const report: WatchReport = {
    groupsObserved: 0,
    mixedStates: 0,
    samples: [],
    lastGroupSeq: 0,
    lastGroupTime: 0,
    readErrors: 0,
  }
  let stopped = false
  async function checkNow(): Promise<void> {
    let obs
    try {
      obs = await observeSecondary(options.pool, options.schema, options.session)
    } catch {
      report.readErrors++
      return
    }
    if (!obs || obs.groupSeq === report.lastGroupSeq) return
    report.groupsObserved++
    report.lastGroupSeq = obs.groupSeq
    report.lastGroupTime = obs.groupTime
    const violations = checkObservation(options.log, obs)
    if (violations.length > 0) {
      report.mixedStates++
      if (report.samples.length < 5) report.samples.push(...violations.slice(0, 5 - report.samples.length))
    }
  }
  const loop = (async () => {
    while (!stopped) {
      await checkNow()
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 20))
    }
  })()
  return {
    checkNow,
    current: () => report,
    async stop() {
      stopped = true
      await loop
      await checkNow()
      return report
    },
  }
}
