import { describe, expect, it } from 'vitest'
import { blockOrder } from './benchVolume.js'

describe('blockOrder', () => {
  it('is every block once, in order or shuffled', () => {
    expect([...blockOrder(5, false)]).toEqual([0, 1, 2, 3, 4])
    const shuffled = blockOrder(1000, true)
    expect([...shuffled].sort((a, b) => a - b)).toEqual([...blockOrder(1000, false)])
    expect([...shuffled]).not.toEqual([...blockOrder(1000, false)])
  })
})
