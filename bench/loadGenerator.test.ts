import { describe, expect, it } from 'vitest'
import { createWorkload, runLoad, type CommitFeed } from './loadGenerator.js'

/** A commit feed the test moves by hand. */
function manualFeed(): CommitFeed & { commit(time: number): void } {
  let committed = Number.NEGATIVE_INFINITY
  const listeners = new Set<() => void>()
  return {
    committedTime: () => committed,
    onCommitted(l) {
      listeners.add(l)
      return () => void listeners.delete(l)
    },
    commit(time) {
      committed = time
      for (const l of listeners) l()
    },
  }
}

describe('runLoad, open loop', () => {
  it('issues every scheduled write, measured from its due time, and counts failures', async () => {
    const result = await runLoad({ mode: 'open', rate: 1000, durationMs: 40, maxInFlight: 100 }, async (i) => {
      if (i === 3) throw new Error('refused')
      return i * 10
    })
    expect(result.due.length).toBe(40)
    expect(result.errors).toBe(1)
    expect(result.firstError).toBe('refused')
    expect(Number.isNaN(result.ack[3])).toBe(true)
    expect(result.time[5]).toBe(50)
    // due times follow the schedule exactly, 1 ms apart
    expect((result.due[39] as number) - (result.due[0] as number)).toBeCloseTo(39, 6)
    for (let i = 0; i < 40; i++) if (i !== 3) expect(result.ack[i]).toBeGreaterThanOrEqual(result.due[i] as number)
  })

  it('holds due writes back at maxInFlight, and still measures them from when they were due', async () => {
    let release: (() => void) | undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const pending = runLoad({ mode: 'open', rate: 1000, durationMs: 20, maxInFlight: 2 }, async (i) => {
      if (i < 2) await gate
      return i
    })
    await new Promise((resolve) => setTimeout(resolve, 40))
    release?.()
    const result = await pending
    expect(result.due.length).toBe(20)
    expect(result.errors).toBe(0)
    // write 10 was due 10 ms in but could only go once the first two finished: its delay includes the wait
    expect((result.ack[10] as number) - (result.due[10] as number)).toBeGreaterThan(15)
  })
})

describe('runLoad, closed loop', () => {
  it('stops after count writes', async () => {
    const result = await runLoad({ mode: 'closed', concurrency: 4, count: 10 }, async (i) => i)
    expect(result.due.length).toBe(10)
    expect([...result.time].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('keeps at most `window` writes not yet committed, and goes on as commits arrive', async () => {
    const feed = manualFeed()
    const pending = runLoad({ mode: 'closed', concurrency: 8, count: 12, window: 5 }, async (i) => i, feed)
    await new Promise((resolve) => setTimeout(resolve, 20))
    // nothing committed yet: the writers parked at the window
    feed.commit(2) // writes with time 0, 1, 2 are on the secondary: 3 more may go
    await new Promise((resolve) => setTimeout(resolve, 20))
    feed.commit(100)
    const result = await pending
    expect(result.due.length).toBe(12)
    // the sixth write could only start after the first commit
    const starts = [...result.due].sort((a, b) => a - b)
    expect((starts[5] as number) - (starts[4] as number)).toBeGreaterThan(10)
  })

  it('refuses a closed loop with no bound, or a window with no feed', async () => {
    await expect(runLoad({ mode: 'closed', concurrency: 1 }, async () => 0)).rejects.toThrow(/durationMs or count/)
    await expect(runLoad({ mode: 'closed', concurrency: 1, count: 1, window: 1 }, async () => 0)).rejects.toThrow(
      /commit feed/,
    )
  })
})

describe('createWorkload', () => {
  it('spreads writes over every controller and stays inside the volumes, the same for the same seed', () => {
    const controllers = [0, 1, 2, 3].map((c) => ({
      volumes: [
        { name: `c${c}a`, blocks: 10 },
        { name: `c${c}b`, blocks: 20 },
      ],
    }))
    const a = createWorkload({ controllers, blockSize: 4096, seed: 7 })
    const b = createWorkload({ controllers, blockSize: 4096, seed: 7 })
    for (let i = 0; i < 100; i++) {
      const t = a.target(i)
      expect(t).toEqual(b.target(i))
      expect(t.volume.startsWith(`c${i % 4}`)).toBe(true)
      expect(t.block).toBeLessThan(t.volume.endsWith('a') ? 10 : 20)
    }
    const d1 = a.data(1)
    const d2 = a.data(2)
    expect(d1.length).toBe(4096)
    expect(d1.equals(d2)).toBe(false)
  })
})
