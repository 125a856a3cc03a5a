import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SnapshotModel, type ModelRequest } from '../../test/kit/snapshotModel.js'
import {
  blockRanges,
  checkSnapshotName,
  checkSnapshotTarget,
  defaultSnapshotName,
  isNeeded,
  isVisibleTo,
  keepsReplacedVersion,
  newestPin,
  pinsNow,
  snapshotsToActivate,
  snapshotsToRetire,
  versionsFreedByDelete,
  type GroupPoint,
  type ImageConsistency,
  type SnapshotTarget,
} from './snapshotRules.js'

const L: GroupPoint = { groupSeq: 10, groupTime: 1000 }

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

describe('copy on write', () => {
  it('keeps a replaced row exactly when the newest pin is at or after it', () => {
    expect(keepsReplacedVersion(5, undefined)).toBe(false)
    expect(keepsReplacedVersion(5, 4)).toBe(false)
    expect(keepsReplacedVersion(5, 5)).toBe(true)
    expect(keepsReplacedVersion(5, 9)).toBe(true)
    expect(newestPin([])).toBeUndefined()
    expect(newestPin([3, 9, 4])).toBe(9)
  })

  it('sees a version from its group up to, not including, the group that superseded it', () => {
    const v = { groupTime: 10, supersededTime: 20 }
    expect([9, 10, 19, 20].map((p) => isVisibleTo(v, p))).toEqual([false, true, true, false])
    expect(isNeeded(v, [])).toBe(false)
    expect(isNeeded(v, [5, 25])).toBe(false)
    expect(isNeeded(v, [5, 15])).toBe(true)
  })

  it('frees on delete what the deleted snapshot sees and no other', () => {
    const a = { groupTime: 1, supersededTime: 5 } // seen by 3 only
    const b = { groupTime: 1, supersededTime: 9 } // seen by 3 and 7
    const c = { groupTime: 6, supersededTime: 9 } // seen by 7 only
    expect(versionsFreedByDelete([a, b, c], 3, [7])).toEqual([a])
    expect(versionsFreedByDelete([a, b, c], 7, [3])).toEqual([c])
    expect(versionsFreedByDelete([a, b, c], 7, [])).toEqual([b, c])
  })
})

describe('activation of a pending snapshot', () => {
  it('pins group N once N is applied and the image is consistent', () => {
    expect(pinsNow({ atGroup: 11 }, L, 'consistent')).toBe(false)
    expect(pinsNow({ atGroup: 10 }, L, 'consistent')).toBe(true)
    expect(pinsNow({ atGroup: 9 }, L, 'consistent')).toBe(true)
    expect(pinsNow({ atGroup: 10 }, L, 'inconsistent')).toBe(false)
    expect(pinsNow({ atGroup: 10 }, L, 'rolled-back')).toBe(true)
    expect(pinsNow({ atGroup: 1 }, undefined, 'consistent')).toBe(false)
  })

  it('pins the newest group at or before T once the next group is after T, or the group is at T', () => {
    expect(pinsNow({ atTime: 1500 }, L, 'consistent')).toBe(false)
    expect(pinsNow({ atTime: 1500 }, L, 'consistent', { groupTime: 1500 })).toBe(false)
    expect(pinsNow({ atTime: 1500 }, L, 'consistent', { groupTime: 1501 })).toBe(true)
    expect(pinsNow({ atTime: 1000 }, L, 'consistent')).toBe(true)
    expect(pinsNow({ atTime: 1500 }, L, 'inconsistent', { groupTime: 1501 })).toBe(false)
  })

  it('takes a snapshot with no target at once and picks the ready ones of several', () => {
    expect(pinsNow({}, L, 'consistent')).toBe(true)
    const pending = [
      { id: 1, name: 'a', atGroup: 10 },
      { id: 2, name: 'b', atGroup: 11 },
      { id: 3, name: 'c', atTime: 1200 },
    ]
    expect(snapshotsToActivate(pending, L, 'consistent', { groupTime: 1300 }).map((p) => p.name)).toEqual(['a', 'c'])
    expect(snapshotsToActivate(pending, L, 'inconsistent', { groupTime: 1300 })).toEqual([])
  })
})

describe('snapshot requests', () => {
  const ctx = { session: 's1', fallback: { groupSeq: 8, groupTime: 800 } }
  /** `last` null: a store that applied no group. */
  const check = (t: SnapshotTarget, last: GroupPoint | null = L, image: ImageConsistency = 'consistent') =>
    thrown(() => checkSnapshotTarget(t, last ?? undefined, image, ctx))

  it('accepts now on a consistent store and targets ahead of the newest group whatever the image', () => {
    expect(check({})).toBeUndefined()
    expect(check({ atGroup: 11 })).toBeUndefined()
    expect(check({ atTime: 1001 }, L, 'inconsistent')).toBeUndefined()
    expect(check({ atGroup: 1 }, null)).toBeUndefined()
  })

  it.each([
    [{ atGroup: 10 }, /at group 10: .* has already applied group 10 \(time 1000\)/],
    [{ atGroup: 3 }, /at group 3: .*group 10/],
    [{ atTime: 1000 }, /at time 1000: .*group 10 \(time 1000\)/],
  ])('refuses target %j, already passed, naming the newest group', (target, message) => {
    expect(check(target)).toMatchObject({ code: 'XRC_USAGE', message: expect.stringMatching(message) })
  })

  it('refuses malformed targets, two targets, and now with nothing applied or while inconsistent', () => {
    expect(check({ atGroup: 0 })).toMatchObject({ code: 'XRC_USAGE', message: expect.stringMatching(/got 0/) })
    expect(check({ atTime: 1.5 })).toMatchObject({ code: 'XRC_USAGE', message: expect.stringMatching(/time/) })
    expect(check({ atGroup: 12, atTime: 2000 })).toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/one target.*group 12, time 2000/),
    })
    expect(check({}, null)).toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/applied no group yet/),
    })
    // a rebased store: nothing applied on the new journal yet, the image inconsistent
    expect(check({}, null, 'inconsistent')).toMatchObject({ code: 'XRC_CONFLICT' })
    expect(check({}, L, 'inconsistent')).toMatchObject({
      code: 'XRC_CONFLICT',
      message: expect.stringMatching(/inconsistent \(a resync is being applied after group 8\)/),
    })
  })

  it('checks names and gives a default one', () => {
    for (const ok of ['a', 'before-upgrade', 'nightly.2026-12-06T02:00', 'x@y_z'])
      expect(thrown(() => checkSnapshotName(ok))).toBeUndefined()
    for (const bad of ['', '-x', 'a b', 'a/b', 'x'.repeat(129)])
      expect(thrown(() => checkSnapshotName(bad))).toMatchObject({ code: 'XRC_USAGE' })
    expect(thrown(() => checkSnapshotName('live'))).toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/reserved/),
    })
    expect(thrown(() => checkSnapshotName('drill:q4'))).toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/drill's own: it is made by xrc drill start and removed by xrc drill stop/),
    })
    expect(defaultSnapshotName({}, L)).toBe('group-10')
    expect(defaultSnapshotName({ atGroup: 12 }, L)).toBe('at-group-12')
    expect(defaultSnapshotName({ atTime: 2000 }, L)).toBe('at-time-2000')
  })
})

describe('retention', () => {
  const active = [
    { name: 'a', groupTime: 100 },
    { name: 'c', groupTime: 300 },
    { name: 'b', groupTime: 200 },
  ]

  it('retires beyond the newest maxCount and older than maxAge, oldest first', () => {
    expect(snapshotsToRetire(active, { maxCount: 2 }, 1000)).toEqual(['a'])
    expect(snapshotsToRetire(active, { maxCount: 5 }, 1000)).toEqual([])
    expect(snapshotsToRetire(active, { maxAgeMicros: 750 }, 1000)).toEqual(['a', 'b'])
    expect(snapshotsToRetire(active, { maxAgeMicros: 800 }, 1000)).toEqual(['a'])
    expect(snapshotsToRetire(active, { maxCount: 1, maxAgeMicros: 10_000 }, 1000)).toEqual(['a', 'b'])
  })

  it('refuses no limit and limits that are not positive integers', () => {
    expect(thrown(() => snapshotsToRetire(active, {}, 0))).toMatchObject({ code: 'XRC_USAGE' })
    expect(thrown(() => snapshotsToRetire(active, { maxCount: 0 }, 0))).toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/retention count takes a positive integer, got 0/),
    })
    expect(thrown(() => snapshotsToRetire(active, { maxAgeMicros: -1 }, 0))).toMatchObject({ code: 'XRC_USAGE' })
  })
})

it('describes changed blocks as runs', () => {
  expect(blockRanges([])).toEqual([])
  expect(blockRanges([0, 1, 2, 5, 7, 8])).toEqual([
    { first: 0, last: 2 },
    { first: 5, last: 5 },
    { first: 7, last: 8 },
  ])
})

/**
 * The store as the rules make it, in memory: current rows, kept versions,
 * snapshots. It is what blockStore.ts and snapshots.ts do in SQL, step for
 * step, so the property below tests the rules as the store uses them.
 */
class RulesStore {
  readonly current = new Map<string, { groupTime: number; data: number }>()
  versions: { key: string; groupTime: number; supersededTime: number; data: number }[] = []
  readonly snapshots = new Map<string, { target: SnapshotTarget; pin?: GroupPoint }>()
  last: GroupPoint | undefined
  image: ImageConsistency = 'consistent'

  pins(): number[] {
    return [...this.snapshots.values()].flatMap((s) => (s.pin === undefined ? [] : [s.pin.groupTime]))
  }

  activate(next?: { groupTime: number }): void {
    const pending = [...this.snapshots.values()].filter((s) => s.pin === undefined)
    for (const s of pending) if (pinsNow(s.target, this.last, this.image, next)) s.pin = this.last
  }

  /** One transaction: per group activation, then copy on write; activation at the end. */
  applyBatch(groups: readonly (GroupPoint & { writes: Map<string, number>; consistent: boolean })[]): void {
    for (const g of groups) {
      this.activate(g)
      const pin = newestPin(this.pins())
      for (const [key, data] of g.writes) {
        const row = this.current.get(key)
        if (row !== undefined && keepsReplacedVersion(row.groupTime, pin))
          this.versions.push({ key, groupTime: row.groupTime, supersededTime: g.groupTime, data: row.data })
        this.current.set(key, { groupTime: g.groupTime, data })
      }
      this.last = { groupSeq: g.groupSeq, groupTime: g.groupTime }
      this.image = g.consistent ? 'consistent' : 'inconsistent'
    }
    this.activate()
  }

  create(name: string, target: SnapshotTarget): void {
    checkSnapshotTarget(target, this.last, this.image, { session: 'model' })
    this.snapshots.set(name, isAhead(target) ? { target } : { target, pin: this.last })
  }

  delete(name: string): void {
    const s = this.snapshots.get(name)
    this.snapshots.delete(name)
    if (s?.pin === undefined) return
    const freed = new Set(versionsFreedByDelete(this.versions, s.pin.groupTime, this.pins()))
    this.versions = this.versions.filter((v) => !freed.has(v))
  }

  read(pinTime: number): Map<string, number> {
    const image = new Map<string, number>()
    for (const [key, row] of this.current) if (row.groupTime <= pinTime) image.set(key, row.data)
    for (const v of this.versions) {
      if (!isVisibleTo(v, pinTime)) continue
      if (image.has(v.key)) throw new Error(`two versions of ${v.key} visible at ${pinTime}`)
      image.set(v.key, v.data)
    }
    return image
  }
}

function isAhead(t: SnapshotTarget): boolean {
  return t.atGroup !== undefined || t.atTime !== undefined
}

const BLOCKS = 6
const op = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('apply' as const),
      groups: fc.array(
        fc.record({
          blocks: fc.uniqueArray(fc.nat(BLOCKS - 1), { maxLength: BLOCKS }),
          timeStep: fc.integer({ min: 1, max: 20 }),
          consistent: fc.oneof(
            { weight: 4, arbitrary: fc.constant(true) },
            { weight: 1, arbitrary: fc.constant(false) },
          ),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('now' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('atGroup' as const), ahead: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('atTime' as const), ahead: fc.integer({ min: 1, max: 50 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
)

it('property: every active snapshot reads as the model image at the group it should pin; nothing else is kept', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const store = new RulesStore()
      const model = new SnapshotModel<number>()
      const requests = new Map<string, ModelRequest>()
      let data = 0
      let n = 0
      for (const o of ops) {
        const last = model.last
        if (o.kind === 'apply') {
          const groups = o.groups.map((g, i) => ({
            groupSeq: (last?.groupSeq ?? 0) + i + 1,
            groupTime: (last?.groupTime ?? 0) + o.groups.slice(0, i + 1).reduce((t, x) => t + x.timeStep, 0),
            writes: new Map(g.blocks.map((b) => [`b${b}`, ++data])),
            consistent: g.consistent,
          }))
          store.applyBatch(groups)
          for (const g of groups) model.apply(g)
        } else if (o.kind === 'delete') {
          const names = [...store.snapshots.keys()]
          const name = names[o.pick % Math.max(1, names.length)]
          if (name !== undefined) {
            store.delete(name)
            requests.delete(name)
          }
        } else {
          const target: SnapshotTarget =
            o.kind === 'now'
              ? {}
              : o.kind === 'atGroup'
                ? { atGroup: (last?.groupSeq ?? 0) + o.ahead }
                : { atTime: (last?.groupTime ?? 0) + o.ahead }
          const refusedByModel = o.kind === 'now' && (last === undefined || !last.consistent)
          const err = thrown(() => store.create(`s${++n}`, target))
          expect(err !== undefined).toBe(refusedByModel)
          if (err === undefined) requests.set(`s${n}`, { ...target, createdAfter: last?.groupSeq ?? 0 })
        }
        for (const [name, req] of requests) {
          const s = store.snapshots.get(name)
          const want = model.expectedPin(req)
          expect(s?.pin?.groupSeq, name).toBe(want?.groupSeq)
          if (want !== undefined) expect(store.read(want.groupTime)).toEqual(model.imageAt(want.groupSeq))
        }
        for (const v of store.versions) expect(isNeeded(v, store.pins())).toBe(true)
      }
    }),
    { numRuns: 500 },
  )
})
