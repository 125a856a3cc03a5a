import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { PendingReplies } from './stages.js'

describe('PendingReplies', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('numbers requests from 1 and settles each through take, once', async () => {
    const pending = new PendingReplies()
    const a = pending.add<string>(1000, () => new Error('late'))
    const b = pending.add<string>(1000, () => new Error('late'))
    expect([a.id, b.id]).toEqual([1, 2])
    pending.take(b.id)?.resolve('two')
    expect(pending.take(b.id)).toBeUndefined()
    await expect(b.reply).resolves.toBe('two')
    pending.take(a.id)?.reject(new Error('failed'))
    await expect(a.reply).rejects.toThrow('failed')
    // an answer taken in time never times out
    await vi.advanceTimersByTimeAsync(5000)
  })

  it('rejects a request not answered in time, and forgets it', async () => {
    const pending = new PendingReplies()
    const { id, reply } = pending.add<string>(1000, () => new Error('no answer'))
    const settled = expect(reply).rejects.toThrow('no answer')
    await vi.advanceTimersByTimeAsync(1000)
    await settled
    expect(pending.take(id)).toBeUndefined()
  })

  it('rejects every pending request at once, each with an error of its own', async () => {
    const pending = new PendingReplies()
    const replies = [1, 2].map(() => pending.add<string>(1000, () => new Error('late')).reply)
    const errors: Error[] = []
    const made = (): Error => {
      const e = new Error('stage ended')
      errors.push(e)
      return e
    }
    const settled = Promise.allSettled(replies)
    pending.rejectAll(made)
    const results = await settled
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect(errors).toHaveLength(2)
    expect(pending.take(1)).toBeUndefined()
    await vi.advanceTimersByTimeAsync(5000)
  })
})
