import { expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { KafkaLink, SendRetry, Stopped } from './kafkaLink.js'

function retry(backoff = { initialMs: 5, maxMs: 20 }): {
  retry: SendRetry
  link: KafkaLink
  abort: AbortController
  outages: number[]
} {
  const outages: number[] = []
  const link = new KafkaLink(silentLogger, { onUnreachable: (since) => void outages.push(since) })
  const abort = new AbortController()
  return { retry: new SendRetry({ link, backoff, signal: abort.signal }), link, abort, outages }
}

it('retries a failing attempt until it succeeds, showing the outage once and clearing it', async () => {
  const { retry: r, link, outages } = retry()
  let attempts = 0
  const result = await r.run(async () => {
    if (++attempts < 4)
      throw new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: 'localhost:9092', cause: new Error('broker down') })
    return 'sent'
  })
  expect(result).toBe('sent')
  expect(attempts).toBe(4)
  expect(outages).toHaveLength(1)
  expect(link).toMatchObject({ state: 'connected', unreachableSince: undefined, lastError: undefined })
})

it('never retries XRC_CONFIG_INVALID', async () => {
  const { retry: r } = retry()
  let attempts = 0
  await expect(
    r.run(() => {
      attempts++
      return Promise.reject(
        new XrcError('XRC_CONFIG_INVALID', {
          reason: 'topicPartitions',
          role: 'updates topic',
          topic: 'xrc.s.updates',
          have: 1,
          partitionsFrom: "the session's controller ids",
          rule: 'at least',
          partitions: 4,
        }),
      )
    }),
  ).rejects.toThrow('updates topic xrc.s.updates has 1 partitions')
  expect(attempts).toBe(1)
})

it('ends a long backoff at once on retryNow, and throws Stopped when the sender stops', async () => {
  const { retry: r, link, abort } = retry({ initialMs: 60_000, maxMs: 60_000 })
  let attempts = 0
  const running = r.run(() => {
    attempts++
    return Promise.reject(
      new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: 'localhost:9092', cause: new Error('broker down') }),
    )
  })
  running.catch(() => undefined)
  await new Promise((resolve) => setImmediate(resolve))
  expect(link.state).toBe('unreachable')
  r.retryNow()
  while (attempts < 2) await new Promise((resolve) => setImmediate(resolve))
  abort.abort()
  await expect(running).rejects.toBeInstanceOf(Stopped)
  expect(attempts).toBe(2)
})
