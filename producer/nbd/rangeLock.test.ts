import { expect, it } from 'vitest'
import { BlockRangeLock } from './rangeLock.js'

it('runs overlapping ranges one after the other in arrival order, and disjoint ones at once', async () => {
  const lock = new BlockRangeLock()
  const events: string[] = []
  const gates = new Map<string, () => void>()
  const job = (name: string, first: number, count: number): Promise<void> =>
    lock.hold(first, count, async () => {
      events.push(`start ${name}`)
      await new Promise<void>((resolve) => gates.set(name, resolve))
      events.push(`end ${name}`)
    })
  const a = job('a', 0, 4)
  const b = job('b', 3, 2) // overlaps a
  const c = job('c', 10, 1) // disjoint
  const d = job('d', 4, 1) // overlaps b (waits for it), not a... but waits for b which waits for a
  await new Promise((r) => setImmediate(r))
  expect(events).toEqual(['start a', 'start c'])
  gates.get('c')?.()
  gates.get('a')?.()
  await c
  await a
  await new Promise((r) => setImmediate(r))
  expect(events).toEqual(['start a', 'start c', 'end c', 'end a', 'start b'])
  gates.get('b')?.()
  await b
  await new Promise((r) => setImmediate(r))
  gates.get('d')?.()
  await d
  expect(events.slice(-3)).toEqual(['end b', 'start d', 'end d'])
  expect(lock.size).toBe(0)
})

it('refuses a second release', async () => {
  const lock = new BlockRangeLock()
  const release = await lock.acquire(0, 1)
  release()
  expect(() => release()).toThrow(/released twice/)
})
