/**
 * What a stage wrote to a topic, read incrementally: each call scans every
 * partition from where the previous call ended to the end the broker
 * reports now (read_committed), so a driver's output() stays cheap when
 * polled.
 */
import type { KafkaClient, ReadRecord } from '../../lib/kafka/index.js'
import { scanTopic } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { uniqueName } from '../kit/names.js'

export interface TopicFollower {
  /** Every message so far, per partition in offset order. */
  read(): Promise<ReadRecord[][]>
}

export function followTopic(kafka: KafkaClient, topic: string, partitions: number): TopicFollower {
  const seen: ReadRecord[][] = Array.from({ length: partitions }, () => [])
  const next = Array.from({ length: partitions }, () => 0)
  const groupPrefix = uniqueName('contract-follow')
  return {
    async read() {
      for (let partition = 0; partition < partitions; partition++) {
        next[partition] = await scanTopic({
          kafka,
          topic,
          partition,
          from: next[partition] as number,
          groupPrefix,
          logger: silentLogger,
          onMessage: (m) => void (seen[partition] as ReadRecord[]).push(m),
        })
      }
      return seen
    },
  }
}
