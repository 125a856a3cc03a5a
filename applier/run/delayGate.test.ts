import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { DelayGate } from './delayGate.js'

describe('DelayGate', () => {
  it('holds a group until it is delayMs old, reporting what waits meanwhile', async () => {
    const gate = new DelayGate({ delayMs: 80, logger: silentLogger })
    const headTime = Date.now() * 1000
    let keepAlives = 0
    const held = gate.hold(headTime, 3, new AbortController().signal, async () => void keepAlives++)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(gate.held()).toMatchObject({ delayMs: 80, groupsWaiting: 3 })
    expect(gate.held().oldestWaitingMs).toBeLessThan(80)
    expect(await held).toBe(true)
    expect(Date.now() - headTime / 1000).toBeGreaterThanOrEqual(80)
    expect(gate.held()).toEqual({ delayMs: 80, groupsWaiting: 0 })
    expect(keepAlives).toBe(1) // one sleep, then the reader told it is alive
  })

  it('lets an old enough group through at once, and every group without a delay', async () => {
    const old = (Date.now() - 1000) * 1000
    const signal = new AbortController().signal
    expect(await new DelayGate({ delayMs: 500, logger: silentLogger }).hold(old, 1, signal, async () => {})).toBe(true)
    const none = new DelayGate({ delayMs: 0, logger: silentLogger })
    expect(await none.hold(Date.now() * 1000 + 1e9, 1, signal, async () => {})).toBe(true)
    expect(none.bound()).toBeUndefined()
  })

  it('keeps the reader alive during a long wait, and gives up at once on stop', async () => {
    let now = 0
    const gate = new DelayGate({ delayMs: 3_600_000, logger: silentLogger, now: () => now, keepAliveMs: 20 })
    const stop = new AbortController()
    let keepAlives = 0
    const held = gate.hold(0, 1, stop.signal, async () => {
      keepAlives++
      now += 1000 // time passes, not yet enough
      if (keepAlives === 2) stop.abort()
      throw new Error('a heartbeat that fails is only logged')
    })
    expect(await held).toBe(false)
    expect(keepAlives).toBe(2)
    expect(gate.held()).toMatchObject({ groupsWaiting: 1, oldestWaitingMs: 2000 })
  })
})
