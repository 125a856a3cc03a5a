import { describe, expect, it } from 'vitest'
import { replicationLines, summarizeReplication } from './replicationView.js'

const part = (topic: string, partition: number, isr: number[], leader = isr[0] ?? -1) => ({
  topic,
  partition,
  leader,
  replicas: [1, 2, 3],
  isr,
})

describe('summarizeReplication', () => {
  it('counts the partitions with fewer in sync than replicas, by topic, leaving out missing topics', () => {
    const r = summarizeReplication(
      3,
      ['u', 'j', 'missing'],
      [part('u', 0, [1, 2, 3]), part('u', 1, [2, 3]), part('j', 0, [], -1)],
    )
    expect(r.underReplicated).toBe(2)
    expect(r.topics.map((t) => [t.topic, t.partitions, t.replicationFactor, t.underReplicated.length])).toEqual([
      ['u', 2, 3, 1],
      ['j', 1, 3, 1],
    ])
    expect(replicationLines(r)).toEqual([
      '  replication        3 brokers; replication factor 3; 2 under-replicated partitions',
      '    u partition 1: in sync 2,3 of 1,2,3, leader 2',
      '    j partition 0: in sync none of 1,2,3, no leader',
    ])
  })

  it('says so when all are in sync', () => {
    const r = summarizeReplication(3, ['u'], [part('u', 0, [1, 2, 3])])
    expect(replicationLines(r)).toEqual([
      '  replication        3 brokers; replication factor 3; 0 under-replicated partitions',
    ])
  })
})
