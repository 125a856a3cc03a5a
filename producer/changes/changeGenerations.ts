/**
 * Dynamic change management (US 6,088,697): per volume, two generations of
 * change bitmaps naming the blocks of every write sent into the stream that
 * the secondary may not hold yet. Pure; changeFiles.ts persists it.
 *
 *   older   writes stamped in [olderStart, newerStart)
 *   newer   writes stamped from newerStart on
 *
 * `confirm(T)`: the applier committed every stream write up to T. Once T
 * reaches newerStart, every write of the older generation is on the
 * secondary: the older generation is discarded, the newer one becomes the
 * older, and a new one starts at `now` (a tick of the session clock taken in
 * the same synchronous step, so a write is marked in the generation its time
 * belongs to). Hence older | newer always names every block changed since a
 * time the secondary has reached: when the journal or the updates topic is
 * lost, copying those blocks rebuilds the secondary without whole volumes.
 *
 * Marking more than needed is always safe (a block is copied once more), so
 * recovery marks every sidefile entry it redoes into the newer generation
 * whatever its time.
 */
import { ChangeBitmap } from './changeBitmap.js'

export interface GenerationsState {
  olderStart: number
  newerStart: number
  older: Map<string, ChangeBitmap>
  newer: Map<string, ChangeBitmap>
}

export class ChangeGenerations {
  private state: GenerationsState

  constructor(volumes: readonly { name: string; blocks: number }[], restored?: GenerationsState) {
    const fresh = (): Map<string, ChangeBitmap> => new Map(volumes.map((v) => [v.name, new ChangeBitmap(v.blocks)]))
    this.state = restored ?? { olderStart: 0, newerStart: 0, older: fresh(), newer: fresh() }
    // a volume added since the state was saved starts with nothing marked
    for (const v of volumes) {
      if (!this.state.older.has(v.name)) this.state.older.set(v.name, new ChangeBitmap(v.blocks))
      if (!this.state.newer.has(v.name)) this.state.newer.set(v.name, new ChangeBitmap(v.blocks))
    }
  }

  /** A write of blocks [block, block + count) went into the stream. */
  mark(volume: string, block: number, count: number): void {
    this.bitmap(this.state.newer, volume).mark(block, count)
  }

  /**
   * The secondary holds every stream write up to `appliedTime`. Discards the
   * older generation when that covers it, starting a new one at `now`.
   * Returns whether it did.
   */
  confirm(appliedTime: number, now: number): boolean {
    if (appliedTime < this.state.newerStart) return false
    if (now <= this.state.newerStart)
      throw new RangeError(`a new generation must start after ${this.state.newerStart}, got ${now}`)
    const { newer, older } = this.state
    for (const bm of older.values()) bm.reset()
    // the discarded older bitmaps are reused for the new generation
    this.state = { olderStart: this.state.newerStart, newerStart: now, older: newer, newer: older }
    return true
  }

  /** Blocks of `volume` named by either generation. */
  union(volume: string): ChangeBitmap {
    const u = new ChangeBitmap(
      this.bitmap(this.state.older, volume).blocks,
      this.bitmap(this.state.older, volume).toBuffer(),
    )
    u.union(this.bitmap(this.state.newer, volume))
    return u
  }

  /** Forgets every mark (after they were folded into the resync's bitmap). */
  clear(): void {
    for (const bm of this.state.older.values()) bm.reset()
    for (const bm of this.state.newer.values()) bm.reset()
  }

  counts(): { older: number; newer: number } {
    let older = 0
    let newer = 0
    for (const bm of this.state.older.values()) older += bm.count
    for (const bm of this.state.newer.values()) newer += bm.count
    return { older, newer }
  }

  /** Start times of the generations (session-clock µs). */
  get starts(): { olderStart: number; newerStart: number } {
    return { olderStart: this.state.olderStart, newerStart: this.state.newerStart }
  }

  /** The state to persist; the bitmaps are live, so serialize it before yielding. */
  snapshot(): Readonly<GenerationsState> {
    return this.state
  }

  volumes(): string[] {
    return [...this.state.newer.keys()]
  }

  private bitmap(map: Map<string, ChangeBitmap>, volume: string): ChangeBitmap {
    const bm = map.get(volume)
    if (bm === undefined) throw new RangeError(`volume ${volume} has no change bitmap`)
    return bm
  }
}
