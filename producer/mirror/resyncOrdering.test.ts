/**
 * The resync ordering rule against models.
 *
 * 1. The rule itself: a host write's verdict and the copies it makes stale,
 *    against a plain map of block -> read time.
 * 2. The controller protocol (what producer/mirror/resyncRunner.ts and the
 *    controller do), as a state machine driven by any interleaving of: host
 *    writes (suspended: marked; otherwise stamped and sent), volume writes
 *    landing late and in order, resync groups begun (read issued at a tick),
 *    reads completing at any point after the volume writes issued before
 *    them, groups finished (their fresh copies sent at a new tick), suspend
 *    and resume, and the secondary applying the stream at any pace. Block
 *    contents are versions (the time of the write that made them). Checked:
 *    the stream keeps times non-decreasing, no block on the secondary ever
 *    goes back to an older version, and once everything drains the
 *    secondary equals the primary.
 * 3. The same model with the stale-copy rule switched off must fail: the
 *    check above has teeth.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProgressQueue, type BlockRun } from './resyncOrdering.js'

const V = 'v'

describe('ProgressQueue.hostWrite', () => {
  it('sends unless every block written is held by a read at or after the write; marks only older reads stale', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 100 })),
          { maxLength: 6 },
        ),
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 35 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 100 })),
          { maxLength: 10 },
        ),
        (groups, writes) => {
          const q = new ProgressQueue()
          const readTime = new Map<number, number>() // model: block -> read time of the group handling it
          const ids = new Map<number, number[]>() // group id -> its blocks
          for (const [start, count, r] of groups) {
            const blocks = Array.from({ length: count }, (_, i) => start + i)
            if (blocks.some((b) => readTime.has(b))) {
              expect(() => q.begin({ volume: V, start, count }, r)).toThrow(RangeError)
              continue
            }
            const g = q.begin({ volume: V, start, count }, r)
            ids.set(g.id, blocks)
            for (const b of blocks) readTime.set(b, r)
          }
          const stale = new Set<number>()
          for (const [block, count, t] of writes) {
            const blocks = Array.from({ length: count }, (_, i) => block + i)
            const expected = blocks.every((b) => (readTime.get(b) ?? -1) >= t) ? 'discard' : 'send'
            expect(q.hostWrite(V, block, count, t)).toBe(expected)
            if (expected === 'send')
              for (const b of blocks) if (readTime.has(b) && t > (readTime.get(b) as number)) stale.add(b)
          }
          for (const [id, blocks] of ids) {
            const kept = q.finish(id).flatMap((r) => Array.from({ length: r.count }, (_, i) => r.start + i))
            expect(kept).toEqual(blocks.filter((b) => !stale.has(b)))
          }
          expect(q.inFlight).toEqual({ groups: 0, blocks: 0 })
        },
      ),
    )
  })

  it('forgets a finished or abandoned group', () => {
    const q = new ProgressQueue()
    const g = q.begin({ volume: V, start: 4, count: 4 }, 10)
    expect(q.handling(V, 5)?.id).toBe(g.id)
    expect(q.hostWrite(V, 5, 1, 9)).toBe('discard')
    expect(q.hostWrite(V, 6, 1, 11)).toBe('send')
    expect(q.finish(g.id)).toEqual([
      { volume: V, start: 4, count: 2 },
      { volume: V, start: 7, count: 1 },
    ])
    expect(q.handling(V, 5)).toBeUndefined()
    expect(() => q.finish(g.id)).toThrow(RangeError)
    const h = q.begin({ volume: V, start: 4, count: 1 }, 20)
    q.abandon(h.id)
    expect(q.hostWrite(V, 4, 1, 1)).toBe('send')
    expect(q.staleCopies).toBe(1)
  })
})

// ---- the controller protocol as a model -------------------------------------------------------

const BLOCKS = 8

type Command =
  | { kind: 'write'; block: number; count: number }
  | { kind: 'land' } // the oldest pending volume write reaches the volume
  | { kind: 'begin'; from: number; count: number }
  | { kind: 'read'; pick: number } // a group's read runs (once the volume writes issued before it landed)
  | { kind: 'finish'; pick: number }
  | { kind: 'apply'; n: number } // the secondary applies the next n stream records
  | { kind: 'suspend' }
  | { kind: 'resume' }

interface Record_ {
  time: number
  versions: Map<number, number>
}

interface Group {
  id: number
  run: BlockRun
  /** Suspensions before the group began: one since voids it. */
  epoch: number
  /** Volume writes issued before the read: it runs after they landed. */
  after: number
  read?: Map<number, number>
}

/** Runs the commands, then drains; returns the first violation found, or undefined. */
function runModel(
  commands: readonly Command[],
  options: { ignoreStale?: boolean; ignoreSuspension?: boolean } = {},
): string | undefined {
  let clock = 0
  const tick = (): number => ++clock
  const volume = new Array<number>(BLOCKS).fill(0)
  const secondary = new Array<number>(BLOCKS).fill(0)
  const landing: { blocks: number[]; version: number }[] = [] // volume writes in issue order
  let issued = 0
  let landed = 0
  const pending = new Set<number>()
  const q = new ProgressQueue()
  const groups: Group[] = []
  const stream: Record_[] = []
  let applied = 0
  let mode: 'duplex' | 'suspended' | 'resyncing' = 'duplex'
  let epoch = 0

  const land = (): void => {
    const w = landing.shift()
    if (w === undefined) return
    for (const b of w.blocks) volume[b] = w.version
    landed++
  }
  const apply = (n: number): string | undefined => {
    for (let i = 0; i < n && applied < stream.length; i++, applied++) {
      const rec = stream[applied] as Record_
      if (applied > 0 && rec.time < (stream[applied - 1] as Record_).time)
        return `stream time went back at record ${applied}`
      for (const [b, v] of rec.versions) {
        if (v < (secondary[b] as number))
          return `block ${b} went back from version ${secondary[b]} to ${v} (record at time ${rec.time})`
        secondary[b] = v
      }
    }
    return undefined
  }
  const write = (block: number, count: number): void => {
    const blocks = Array.from({ length: count }, (_, i) => block + i).filter((b) => b < BLOCKS)
    const t = tick()
    landing.push({ blocks, version: t })
    issued++
    if (mode === 'suspended') {
      for (const b of blocks) pending.add(b)
      return
    }
    // captured: stamped and sent in one step; a write made while resync runs supersedes the marks of its blocks
    q.hostWrite(V, blocks[0] as number, blocks.length, t)
    stream.push({ time: t, versions: new Map(blocks.map((b) => [b, t])) })
    for (const b of blocks) pending.delete(b)
  }
  const begin = (from: number, count: number): void => {
    if (mode !== 'resyncing') return
    let start = -1
    for (let b = from; b < from + BLOCKS; b++) {
      const x = b % BLOCKS
      if (pending.has(x) && q.handling(V, x) === undefined) {
        start = x
        break
      }
    }
    if (start < 0) return
    let n = 1
    while (n < count && start + n < BLOCKS && pending.has(start + n) && q.handling(V, start + n) === undefined) n++
    const g = q.begin({ volume: V, start, count: n }, tick())
    groups.push({ id: g.id, run: g, epoch, after: issued })
  }
  const read = (g: Group): void => {
    while (landed < g.after) land()
    g.read = new Map(
      Array.from({ length: g.run.count }, (_, i) => [g.run.start + i, volume[g.run.start + i] as number]),
    )
  }
  const finish = (g: Group): void => {
    if (g.read === undefined) read(g)
    groups.splice(groups.indexOf(g), 1)
    // a suspension since the group began may have marked its blocks again, after its read
    if (mode !== 'resyncing' || (g.epoch !== epoch && !options.ignoreSuspension)) {
      q.abandon(g.id) // its blocks stay marked
      return
    }
    const kept = options.ignoreStale ? [g.run] : q.finish(g.id)
    if (options.ignoreStale) q.abandon(g.id)
    const versions = new Map<number, number>()
    for (const r of kept)
      for (let b = r.start; b < r.start + r.count; b++)
        versions.set(b, (g.read as Map<number, number>).get(b) as number)
    if (versions.size > 0) stream.push({ time: tick(), versions })
    for (const b of versions.keys()) pending.delete(b)
  }

  for (const c of commands) {
    let violation: string | undefined
    switch (c.kind) {
      case 'write':
        write(c.block, c.count)
        break
      case 'land':
        land()
        break
      case 'begin':
        begin(c.from, c.count)
        break
      case 'read': {
        const g = groups.filter((x) => x.read === undefined)[c.pick % Math.max(1, groups.length)]
        if (g) read(g)
        break
      }
      case 'finish': {
        const g = groups[c.pick % Math.max(1, groups.length)]
        if (g) finish(g)
        break
      }
      case 'apply':
        violation = apply(c.n)
        break
      case 'suspend':
        if (mode !== 'suspended') epoch++
        mode = 'suspended'
        break
      case 'resume':
        if (mode === 'suspended') mode = 'resyncing'
        break
    }
    if (violation) return violation
  }
  // drain: everything lands, the resync runs to its end, the secondary catches up
  if (mode === 'suspended') mode = 'resyncing'
  while (groups.length > 0) finish(groups[0] as Group)
  for (let guard = 0; pending.size > 0 && guard < 10 * BLOCKS; guard++) {
    begin(0, 3)
    while (groups.length > 0) finish(groups[0] as Group)
  }
  while (landing.length > 0) land()
  const violation = apply(stream.length)
  if (violation) return violation
  if (pending.size > 0) return `resync did not finish: ${[...pending].join(',')} still marked`
  for (let b = 0; b < BLOCKS; b++)
    if (secondary[b] !== volume[b]) return `block ${b}: secondary has version ${secondary[b]}, primary ${volume[b]}`
  return undefined
}

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      block: fc.integer({ min: 0, max: BLOCKS - 1 }),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 4, arbitrary: fc.constant({ kind: 'land' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('begin' as const),
      from: fc.integer({ min: 0, max: BLOCKS - 1 }),
      count: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), pick: fc.nat(5) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(5) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('apply' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'suspend' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'resume' as const }) },
)

describe('the resync protocol', () => {
  it('never regresses a block on the secondary, and ends with the primary image, for any interleaving', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 100, size: 'max' }), (commands) => {
        expect(runModel([{ kind: 'suspend' }, ...commands])).toBeUndefined()
      }),
      { numRuns: 3000 },
    )
  })

  it('without dropping stale copies, a copy read before a newer write lands after it: the model finds it', () => {
    const result = fc.check(
      fc.property(
        fc.array(command, { maxLength: 100, size: 'max' }),
        (commands) => runModel([{ kind: 'suspend' }, ...commands], { ignoreStale: true }) === undefined,
      ),
      { numRuns: 3000 },
    )
    expect(result.failed).toBe(true)
    const counterexample = result.counterexample?.[0] as Command[] | undefined
    expect(runModel([{ kind: 'suspend' }, ...(counterexample ?? [])], { ignoreStale: true })).toMatch(
      /went back|secondary has version/,
    )
  })

  it('without voiding groups a suspension overtook, a write marked after their read is lost; the model sees it', () => {
    const result = fc.check(
      fc.property(
        fc.array(command, { maxLength: 100, size: 'max' }),
        (commands) => runModel([{ kind: 'suspend' }, ...commands], { ignoreSuspension: true }) === undefined,
      ),
      { numRuns: 5000 },
    )
    expect(result.failed).toBe(true)
  })
})

describe('the resync protocol, by example', () => {
  it('a suspension while a group is in flight voids the group: a write marked meanwhile is not cleared by it', () => {
    const commands: Command[] = [
      { kind: 'suspend' },
      { kind: 'write', block: 0, count: 1 },
      { kind: 'land' },
      { kind: 'resume' },
      { kind: 'begin', from: 0, count: 1 },
      { kind: 'suspend' },
      { kind: 'write', block: 0, count: 1 },
      { kind: 'resume' },
      { kind: 'finish', pick: 0 },
    ]
    expect(runModel(commands)).toBeUndefined()
  })
})
