/**
 * The drills of the secondary for `xrc status`: the running one (phase,
 * group, blocks written, who serves it) and the last one stopped (when,
 * which group, what was checked). A secondary that never ran a drill has
 * no drill tables: both are absent.
 */
import { createDrills, type DrillHistoryEntry, type DrillInfo } from '../../applier/index.js'
import type { Pool } from '../../lib/postgres.js'

export interface DrillView {
  current?: DrillInfo
  last?: DrillHistoryEntry
}

/** The drills of the secondary; undefined when it never ran one. */
export async function drillView(pool: Pool, schema: string, session: string): Promise<DrillView | undefined> {
  const drills = createDrills({ pool, schema, session })
  const [current, [last]] = await Promise.all([drills.current(), drills.history(1)])
  if (current === undefined && last === undefined) return undefined
  return { ...(current ? { current } : {}), ...(last ? { last } : {}) }
}
