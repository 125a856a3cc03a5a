/**
 * The figures the fault suite reports, per scenario and in total, and their
 * table. The same for `npm test` and `npm run soak`.
 */

/** What one run of one scenario measured. */
export interface ScenarioFigures {
  scenario: string
  seed: number
  faultsInjected: number
  /** Faults after which the run ended with every check passing. */
  faultsSurvived: number
  writesAcknowledged: number
  writesInDoubt: number
  /** Acknowledged writes missing from (or wrong on) the caught-up secondary. */
  writesLost: number
  groupsApplied: number
  /** Groups journaled or applied a second time (the same group seq, or a write already journaled). */
  groupsAppliedTwice: number
  /** Applied or journaled groups not in strictly increasing order, or skipped. */
  outOfOrder: number
  groupsObserved: number
  /** Observations of the secondary that were not the primary's writes up to their T. */
  mixedStates: number
  /** Distinct records dead-lettered, by error code. */
  deadLettered: Record<string, number>
  volumesIdentical: string
  seconds: number
  /** Scenario-specific facts (epochs, cuts, duplicates dropped...). */
  notes: Record<string, unknown>
  /** Checks that failed; empty when the run passed. */
  failures: string[]
}

/** Sums of many runs. */
export interface Totals {
  runs: number
  failedRuns: number
  faultsInjected: number
  faultsSurvived: number
  writesAcknowledged: number
  writesLost: number
  groupsApplied: number
  groupsAppliedTwice: number
  outOfOrder: number
  mixedStates: number
  groupsObserved: number
  deadLettered: Record<string, number>
}

export function total(runs: readonly ScenarioFigures[]): Totals {
  const t: Totals = {
    runs: runs.length,
    failedRuns: 0,
    faultsInjected: 0,
    faultsSurvived: 0,
    writesAcknowledged: 0,
    writesLost: 0,
    groupsApplied: 0,
    groupsAppliedTwice: 0,
    outOfOrder: 0,
    mixedStates: 0,
    groupsObserved: 0,
    deadLettered: {},
  }
  for (const r of runs) {
    if (r.failures.length > 0) t.failedRuns++
    t.faultsInjected += r.faultsInjected
    t.faultsSurvived += r.faultsSurvived
    t.writesAcknowledged += r.writesAcknowledged
    t.writesLost += r.writesLost
    t.groupsApplied += r.groupsApplied
    t.groupsAppliedTwice += r.groupsAppliedTwice
    t.outOfOrder += r.outOfOrder
    t.mixedStates += r.mixedStates
    t.groupsObserved += r.groupsObserved
    for (const [code, n] of Object.entries(r.deadLettered)) t.deadLettered[code] = (t.deadLettered[code] ?? 0) + n
  }
  return t
}

const COLUMNS = [
  'scenario',
  'runs',
  'faults',
  'survived',
  'acked',
  'lost',
  'groups',
  'twice',
  'order',
  'observed',
  'mixed',
  'dead-lettered',
] as const

/** A plain-text table: one row per scenario (summed over its runs), then the total. */
export function figuresTable(runs: readonly ScenarioFigures[]): string {
  const byScenario = new Map<string, ScenarioFigures[]>()
  for (const r of runs) byScenario.set(r.scenario, [...(byScenario.get(r.scenario) ?? []), r])
  const row = (name: string, t: Totals): string[] => [
    name,
    String(t.runs),
    String(t.faultsInjected),
    String(t.faultsSurvived),
    String(t.writesAcknowledged),
    String(t.writesLost),
    String(t.groupsApplied),
    String(t.groupsAppliedTwice),
    String(t.outOfOrder),
    String(t.groupsObserved),
    String(t.mixedStates),
    Object.keys(t.deadLettered).length === 0
      ? '0'
      : Object.entries(t.deadLettered)
          .map(([c, n]) => `${c}=${n}`)
          .join(' '),
  ]
  const rows = [
    [...COLUMNS] as string[],
    ...[...byScenario].map(([name, rs]) => row(name, total(rs))),
    row('TOTAL', total(runs)),
  ]
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]): string =>
    r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  return [line(rows[0] as string[]), ...rows.slice(1).map(line)].join('\n')
}
