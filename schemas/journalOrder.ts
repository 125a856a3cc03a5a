/**
 * Order of a consistency group's updates (US 5,734,818 step (f)): by
 * (time, controller, seq), each multi-block write split into one update per
 * block, and only the last writer of each (volume, block) kept. Pure.
 */
import type { JournalUpdate } from './journal.js'
import type { Update } from './recordSet.js'

/** A write taken into a group, with the controller it came from. */
export interface TakenUpdate {
  controller: number
  update: Update
}

/** The (time, controller, seq) order of the journal. */
export function compareJournalOrder(
  a: { time: number; controller: number; seq: number },
  b: { time: number; controller: number; seq: number },
): number {
  return a.time - b.time || a.controller - b.controller || a.seq - b.seq
}

/**
 * The journal updates of a group: `taken` sorted by (time, controller, seq),
 * split into single blocks (ascending block within a write), keeping for
 * each (volume, block) only the last one in that order. Data is sliced, not
 * copied.
 */
export function orderGroupUpdates(taken: readonly TakenUpdate[], blockSize: number): JournalUpdate[] {
  const sorted = taken
    .map((t) => ({ controller: t.controller, seq: t.update.seq, time: t.update.time, update: t.update }))
    .sort(compareJournalOrder)
  const blocks: JournalUpdate[] = []
  for (const { controller, update } of sorted) {
    const count = update.data.length / blockSize
    for (let i = 0; i < count; i++) {
      blocks.push({
        controller,
        seq: update.seq,
        time: update.time,
        volume: update.volume,
        block: update.block + i,
        data: update.data.subarray(i * blockSize, (i + 1) * blockSize),
      })
    }
  }
  // last writer wins: walk backwards, keep the first sighting of each block
  const seen = new Set<string>()
  const kept: JournalUpdate[] = []
  for (let i = blocks.length - 1; i >= 0; i--) {
    const u = blocks[i] as JournalUpdate
    const key = `${u.volume}\u0000${u.block}`
    if (seen.has(key)) continue
    seen.add(key)
    kept.push(u)
  }
  return kept.reverse()
}
