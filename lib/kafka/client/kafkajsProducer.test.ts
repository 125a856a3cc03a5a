import { describe, expect, it } from 'vitest'
import { writtenPartitions } from './kafkajsProducer.js'

describe('writtenPartitions (kafkajs answer)', () => {
  const ok = (partition: number, topicName = 't') => ({ topicName, partition, errorCode: 0 })

  it('lists every partition of the topic the answer shows written', () => {
    expect([...writtenPartitions('t', [ok(2), ok(0), ok(1)])].sort()).toEqual([0, 1, 2])
  })

  it('leaves out a partition with an error code, one of another topic, and one not answered', () => {
    expect([...writtenPartitions('t', [ok(0), { ...ok(1), errorCode: 6 }, ok(2, 'u')])]).toEqual([0])
  })
})
