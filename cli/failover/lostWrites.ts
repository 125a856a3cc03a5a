/**
 * Counting the acknowledged writes a failover leaves behind: every host
 * write the old primary acknowledged with a time after T, the time of the
 * image the new primary starts from. Such a write is either in the updates
 * topic (sent, not in any applied group) or still in its controller's
 * sidefile (not sent yet); a write in both (sent, not yet trimmed) counts
 * once, by (controller, seq). Pure: the readers are siteWrites.ts.
 */

/** A host write seen in the updates topic or a sidefile. */
export interface SeenWrite {
  controller: number
  seq: number
  time: number
}

/** The writes after T, counted once each. */
export interface LostWrites {
  count: number
  /** Per controller id. */
  byController: Record<string, number>
  /** The earliest and latest time among them (µs). */
  firstTime?: number
  lastTime?: number
}

/** The distinct writes (by controller and seq) with a time after `t`. */
export function writesAfter(writes: Iterable<SeenWrite>, t: number): LostWrites {
  const seen = new Set<string>()
  const out: LostWrites = { count: 0, byController: {} }
  for (const w of writes) {
    if (w.time <= t) continue
    const key = `${w.controller}:${w.seq}`
    if (seen.has(key)) continue
    seen.add(key)
    out.count++
    out.byController[w.controller] = (out.byController[w.controller] ?? 0) + 1
    out.firstTime = Math.min(out.firstTime ?? w.time, w.time)
    out.lastTime = Math.max(out.lastTime ?? w.time, w.time)
  }
  return out
}

/** A record set's headers: enough to place its host writes relative to T without decoding it. */
export interface RecordSetHead {
  kind: string
  firstSeq: number
  lastSeq: number
  minTime: number
  maxTime: number
}

/**
 * Where a record set's writes fall against `t`: 'none' (not host writes, or
 * all at or before t), 'all' (every write after t), or 'decode' (it
 * straddles t: its writes' own times decide; seqs and times rise together).
 */
export function placeRecordSet(head: RecordSetHead, t: number): 'none' | 'all' | 'decode' {
  if (head.kind !== 'UPDATES' || head.lastSeq < head.firstSeq || head.maxTime <= t) return 'none'
  return head.minTime > t ? 'all' : 'decode'
}

/** The writes of a record set placed 'all': seqs firstSeq..lastSeq, each at least minTime. */
export function allWritesOf(controller: number, head: RecordSetHead): SeenWrite[] {
  const out: SeenWrite[] = []
  for (let seq = head.firstSeq; seq <= head.lastSeq; seq++) out.push({ controller, seq, time: head.minTime })
  return out
}
