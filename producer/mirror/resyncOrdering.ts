/**
 * The resync ordering rule (US 6,260,124, US 6,772,303) and the progress
 * queue it consults. Pure: no I/O, no clock; the controller feeds it times.
 *
 * The static resync reads the blocks marked while the session was suspended,
 * a group at a time. When a group's read is issued it is recorded here with
 * its read time R (a session-clock tick); the read itself runs after every
 * volume write issued before R, so it holds every write with a time below R.
 * A host write to block b at time t, while a resync runs:
 *
 *   - no group in flight handles b: send (the resync is not handling it);
 *   - a group in flight handles b and t > R: send. The group's copy of b may
 *     or may not hold the write (the read and the write race on the volume),
 *     so the copy is stale: it is dropped from the group and never sent, and
 *     nothing older than the write can reach the secondary after it;
 *   - a group in flight handles b and t <= R: discard. The read was issued
 *     after the write reached the volume, so the read holds it.
 *
 * A group's copies that no newer write touched are sent as RESYNC records
 * (`finish`), stamped with a tick taken in the same synchronous step as their
 * seqs: no write touched those blocks between R and that tick, so the data is
 * the image as of the stamp too, and the controller's stream keeps seqs
 * contiguous and times non-decreasing.
 *
 * In the controller every host write takes its time in the step that takes
 * its seq, so a group begun before it has R < t and a group begun after it
 * has R > t with the write already on the volume: the third case arises only
 * when writes are processed after they were stamped (the model in
 * resyncOrdering.test.ts exercises all three).
 */

/** Blocks [start, start + count) of a volume. */
export interface BlockRun {
  volume: string
  start: number
  count: number
}

/** A group of the static resync whose read was issued and whose records are not yet appended. */
export interface ResyncGroup extends BlockRun {
  readonly id: number
  /** Session-clock time at which the read was issued: the read holds every write stamped before it. */
  readonly readTime: number
}

/** What the rule says about a host write. */
export type Verdict = 'send' | 'discard'

interface GroupState {
  group: ResyncGroup
  /** Blocks a newer host write touched since the read was issued. */
  stale: Set<number>
}

/**
 * Groups in flight, by block. A block is handled by at most one group at a
 * time (`begin` refuses an overlap: the caller plans groups from blocks not
 * in flight).
 */
export class ProgressQueue {
  private readonly groups = new Map<number, GroupState>()
  /** volume -> block -> group id */
  private readonly handlers = new Map<string, Map<number, number>>()
  private nextId = 1
  private staleTotal = 0

  /** Records a group whose read is issued now, at `readTime`. Throws RangeError when a block is already in flight. */
  begin(run: BlockRun, readTime: number): ResyncGroup {
    if (!Number.isInteger(run.start) || !Number.isInteger(run.count) || run.start < 0 || run.count < 1)
      throw new RangeError(`bad block run ${run.start}+${run.count}`)
    const byBlock = this.handlers.get(run.volume) ?? new Map<number, number>()
    for (let b = run.start; b < run.start + run.count; b++) {
      if (byBlock.has(b))
        throw new RangeError(`volume ${run.volume} block ${b} is already handled by resync group ${byBlock.get(b)}`)
    }
    const group: ResyncGroup = { id: this.nextId++, volume: run.volume, start: run.start, count: run.count, readTime }
    for (let b = run.start; b < run.start + run.count; b++) byBlock.set(b, group.id)
    this.handlers.set(run.volume, byBlock)
    this.groups.set(group.id, { group, stale: new Set() })
    return group
  }

  /** The group in flight that handles a block, if any. */
  handling(volume: string, block: number): ResyncGroup | undefined {
    const id = this.handlers.get(volume)?.get(block)
    return id === undefined ? undefined : this.groups.get(id)?.group
  }

  /**
   * Applies the rule to a host write of blocks [block, block + count) at
   * `time` (see the module comment): 'send' unless every block it writes is
   * handled by a group whose read time is at or after `time`. A multi-block
   * write is one update and cannot be split, so it is sent when any of its
   * blocks calls for it; its blocks handled by a group read before `time`
   * make that group's copies stale.
   */
  hostWrite(volume: string, block: number, count: number, time: number): Verdict {
    const byBlock = this.handlers.get(volume)
    if (byBlock === undefined || byBlock.size === 0) return 'send'
    let verdict: Verdict = 'discard'
    for (let b = block; b < block + count; b++) {
      const id = byBlock.get(b)
      const state = id === undefined ? undefined : this.groups.get(id)
      if (state === undefined || time > state.group.readTime) verdict = 'send'
    }
    if (verdict === 'discard') return verdict
    for (let b = block; b < block + count; b++) {
      const id = byBlock.get(b)
      const state = id === undefined ? undefined : this.groups.get(id)
      // newer than the read: the group's copy may lack it and must never follow it. A block read
      // after the write (t <= R) keeps its copy: the read holds this write and maybe later ones.
      if (state !== undefined && time > state.group.readTime && !state.stale.has(b)) {
        state.stale.add(b)
        this.staleTotal++
      }
    }
    return 'send'
  }

  /**
   * The group's read returned: removes it from the queue and gives the runs
   * of its blocks that no newer write touched, in block order. These are the
   * copies to send; the caller does so in the same synchronous step.
   */
  finish(id: number): BlockRun[] {
    const state = this.take(id)
    const runs: BlockRun[] = []
    const { volume, start, count } = state.group
    let runStart: number | undefined
    for (let b = start; b <= start + count; b++) {
      const keep = b < start + count && !state.stale.has(b)
      if (keep && runStart === undefined) runStart = b
      if (!keep && runStart !== undefined) {
        runs.push({ volume, start: runStart, count: b - runStart })
        runStart = undefined
      }
    }
    return runs
  }

  /**
   * Drops a group without sending it (its read failed, or the session suspended): its blocks stay marked for a
   * later group.
   */
  abandon(id: number): void {
    this.take(id)
  }

  /** Groups and blocks in flight. */
  get inFlight(): { groups: number; blocks: number } {
    let blocks = 0
    for (const s of this.groups.values()) blocks += s.group.count
    return { groups: this.groups.size, blocks }
  }

  /** Block copies dropped so far because a newer host write touched them during their read. */
  get staleCopies(): number {
    return this.staleTotal
  }

  private take(id: number): GroupState {
    const state = this.groups.get(id)
    if (state === undefined) throw new RangeError(`resync group ${id} is not in flight`)
    this.groups.delete(id)
    const byBlock = this.handlers.get(state.group.volume)
    for (let b = state.group.start; b < state.group.start + state.group.count; b++) byBlock?.delete(b)
    return state
  }
}
