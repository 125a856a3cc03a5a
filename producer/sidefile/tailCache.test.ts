import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { SidefileEntry } from './sidefile.js'
import { TailCache } from './tailCache.js'

/** What the file gives: the entries from `from`, within the limits (the sidefile's read rule). */
function fileRead(entries: readonly SidefileEntry[], from: number, limits: { maxEntries: number; maxBytes: number }) {
  const out: SidefileEntry[] = []
  let bytes = 0
  for (const e of entries) {
    if (e.position < from || out.length >= limits.maxEntries) continue
    const size = e.end - e.position
    if (out.length > 0 && bytes + size > limits.maxBytes) break
    out.push(e)
    bytes += size
    if (bytes >= limits.maxBytes) break
  }
  return out
}

describe('TailCache', () => {
  it('gives what the file gives, or nothing, for any appends, trims, reads and bound', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('add' as const), size: fc.integer({ min: 1, max: 600 }) }),
            fc.record({ kind: fc.constant('trim' as const), pick: fc.nat() }),
            fc.record({
              kind: fc.constant('read' as const),
              pick: fc.nat(),
              maxEntries: fc.integer({ min: 1, max: 8 }),
              maxBytes: fc.integer({ min: 1, max: 2000 }),
            }),
          ),
          { maxLength: 120 },
        ),
        (bound, steps) => {
          const cache = new TailCache(bound)
          const file: SidefileEntry[] = [] // durable entries not trimmed
          let end = 0
          for (const step of steps) {
            if (step.kind === 'add') {
              const e = { position: end, end: end + step.size, payload: Buffer.alloc(step.size - 1, end & 0xff) }
              end = e.end
              file.push(e)
              cache.add(e)
              // the entry just written is served from memory whenever it fits the bound
              if (step.size <= bound) expect(cache.read(e.position, { maxEntries: 1, maxBytes: 1 })).toEqual([e])
            } else if (step.kind === 'trim') {
              if (file.length === 0) continue
              const upTo = (file[step.pick % file.length] as SidefileEntry).end
              while (file.length > 0 && (file[0] as SidefileEntry).end <= upTo) file.shift()
              cache.trim(upTo)
            } else {
              if (file.length === 0) continue
              const from = (file[step.pick % file.length] as SidefileEntry).position
              const limits = { maxEntries: step.maxEntries, maxBytes: step.maxBytes }
              const got = cache.read(from, limits)
              if (got === undefined) continue
              expect(got).toEqual(fileRead(file, from, limits))
            }
            expect(cache.bytes).toBeLessThanOrEqual(bound)
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  it('serves the newest entries while they fit, and none once trimmed', () => {
    const cache = new TailCache(100)
    const entry = (position: number, size: number): SidefileEntry => ({
      position,
      end: position + size,
      payload: Buffer.alloc(size),
    })
    cache.add(entry(0, 40))
    cache.add(entry(40, 40))
    expect(cache.read(0, { maxEntries: 10, maxBytes: 1000 })?.map((e) => e.position)).toEqual([0, 40])
    cache.add(entry(80, 40)) // 120 bytes: the oldest leaves
    expect(cache.read(0, { maxEntries: 10, maxBytes: 1000 })).toBeUndefined()
    expect(cache.read(40, { maxEntries: 10, maxBytes: 1000 })?.map((e) => e.position)).toEqual([40, 80])
    cache.trim(80)
    expect(cache.read(40, { maxEntries: 10, maxBytes: 1000 })).toBeUndefined()
    expect(cache.read(80, { maxEntries: 1, maxBytes: 1000 })?.map((e) => e.position)).toEqual([80])
    expect(new TailCache(0).read(0, { maxEntries: 1, maxBytes: 1 })).toBeUndefined()
  })
})
