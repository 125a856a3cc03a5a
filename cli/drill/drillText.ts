/**
 * A drill in words, for `xrc drill status` and `xrc status`: one line on the
 * running drill, one on the last one stopped.
 */
import type { DrillHistoryEntry, DrillInfo } from '../../applier/index.js'
import { formatMs, isoMicros } from '../format.js'

/** The drill's group as people read it. */
export function groupText(d: { groupSeq: number; groupTime: number }): string {
  return `group ${d.groupSeq} (T ${isoMicros(d.groupTime)})`
}

export function sourceText(d: DrillInfo | DrillHistoryEntry): string {
  return d.source.kind === 'newest' ? 'the newest applied group' : `the pin of snapshot "${d.source.snapshot}"`
}

/** One line on the running drill. */
export function currentText(d: DrillInfo | undefined): string {
  if (d === undefined) return 'drill: none running'
  const served = d.servedBy ? `served by ${d.servedBy}` : 'not served (xrc drill serve)'
  const phase = d.phase === 'stopping' ? 'BEING STOPPED (xrc drill stop finishes it)' : 'running'
  return (
    `drill: "${d.name}" ${phase} since ${d.startedAt.toISOString()} on ${groupText(d)}, ${sourceText(d)}; ` +
    `${d.blocksWritten ?? 0} blocks written; ${served}`
  )
}

/** One line on the last drill stopped. */
export function lastText(d: DrillHistoryEntry | undefined): string {
  if (d === undefined) return 'last drill: none yet'
  const took = formatMs(d.stoppedAt.getTime() - d.startedAt.getTime())
  return (
    `last drill: "${d.name}" ${d.startedAt.toISOString()} to ${d.stoppedAt.toISOString()} (${took}) on ` +
    `${groupText(d)}; ${d.blocksWritten} blocks written; checked: ${d.checked ?? '-'}`
  )
}
