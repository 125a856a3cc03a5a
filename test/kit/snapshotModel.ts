/**
 * A model of snapshots that keeps a whole image per applied group, for the
 * property tests of the snapshot rules (applier/store/snapshotRules.test.ts)
 * and of the store (test/integration/snapshotProperty.test.ts). It knows
 * nothing of copy on write: a snapshot is right when it reads as the image
 * of the group it should pin, and that group is derived here from what a
 * target means, not from the rules.
 */

/** An applied group: its blocks' new contents and whether the image after it is consistent. */
export interface ModelGroup<D> {
  groupSeq: number
  groupTime: number
  writes: ReadonlyMap<string, D>
  consistent: boolean
}

/** What a snapshot asked for, and the newest group when it was asked. */
export interface ModelRequest {
  atGroup?: number
  atTime?: number
  /** Seq of the newest applied group at creation (0: none). */
  createdAfter: number
}

export class SnapshotModel<D> {
  readonly groups: ModelGroup<D>[] = []

  apply(group: ModelGroup<D>): void {
    const last = this.groups[this.groups.length - 1]
    if (last !== undefined && (group.groupSeq !== last.groupSeq + 1 || group.groupTime <= last.groupTime))
      throw new Error(`model: group ${group.groupSeq} does not follow ${last.groupSeq}`)
    this.groups.push(group)
  }

  get last(): ModelGroup<D> | undefined {
    return this.groups[this.groups.length - 1]
  }

  /** The image after group `seq` (0: empty): block key -> contents, last writer wins. */
  imageAt(seq: number): Map<string, D> {
    const image = new Map<string, D>()
    for (const g of this.groups) {
      if (g.groupSeq > seq) break
      for (const [k, d] of g.writes) image.set(k, d)
    }
    return image
  }

  /**
   * The group a snapshot should pin by now, undefined while it should still
   * be pending. Now: the newest group at creation. At group N: the first
   * consistent group from N on. At time T: the image as of T is the newest
   * group with time <= T (the first group if none); it is known once a
   * later group is applied or that group's time is T; the pin is the first
   * consistent group from it on whose own pin is known.
   */
  expectedPin(req: ModelRequest): ModelGroup<D> | undefined {
    if (req.atGroup === undefined && req.atTime === undefined) return this.groups[req.createdAfter - 1]
    const lastSeq = this.last?.groupSeq ?? 0
    if (req.atGroup !== undefined) return this.groups.find((g) => g.groupSeq >= (req.atGroup as number) && g.consistent)
    const t = req.atTime as number
    const atT = [...this.groups].reverse().find((g) => g.groupTime <= t) ?? this.groups[0]
    if (atT === undefined) return undefined
    return this.groups.find(
      (g) => g.groupSeq >= atT.groupSeq && g.consistent && (g.groupTime >= t || g.groupSeq < lastSeq),
    )
  }
}
