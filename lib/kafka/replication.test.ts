import { describe, expect, it } from 'vitest'
import { isUnderReplicated, resolveReplication } from './replication.js'

describe('resolveReplication', () => {
  it('defaults to factor 3 and min ISR 2 from three brokers on, else 1 and 1', () => {
    expect(resolveReplication({}, 1)).toEqual({ replicationFactor: 1, minInsyncReplicas: 1 })
    expect(resolveReplication({}, 2)).toEqual({ replicationFactor: 1, minInsyncReplicas: 1 })
    expect(resolveReplication({}, 3)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 })
    expect(resolveReplication({}, 5)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 })
  })

  it('takes the settings over the defaults, min ISR following a configured factor', () => {
    expect(resolveReplication({ replicationFactor: 2 }, 3)).toEqual({ replicationFactor: 2, minInsyncReplicas: 1 })
    expect(resolveReplication({ replicationFactor: 5 }, 5)).toEqual({ replicationFactor: 5, minInsyncReplicas: 2 })
    expect(resolveReplication({ minInsyncReplicas: 3 }, 3)).toEqual({ replicationFactor: 3, minInsyncReplicas: 3 })
  })
})

describe('isUnderReplicated', () => {
  const p = { topic: 't', partition: 0, leader: 1, replicas: [1, 2, 3], isr: [1, 2, 3] }
  it('is false with every replica in sync, true with one out or no leader', () => {
    expect(isUnderReplicated(p)).toBe(false)
    expect(isUnderReplicated({ ...p, isr: [1, 3] })).toBe(true)
    expect(isUnderReplicated({ ...p, leader: -1 })).toBe(true)
  })
})
