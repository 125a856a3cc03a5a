/**
 * TopicOffsets: a running stage's offsets lookups connect one admin client
 * and keep it; a lookup that fails, or hangs past the call deadline, drops
 * the client, and the next lookup makes a new one. Against a stand-in for
 * kafkajs's admin client; fake timers.
 */
import type { KafkaAdmin, KafkaClient } from './client/index.js'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { isXrcError } from '../errors.js'
import { KAFKA_CALL_DEADLINE_MS, TopicOffsets } from './callDeadline.js'

type Answer = 'ok' | 'hang' | 'refused'

function standIn(answers: Answer[]): { kafka: KafkaClient; admins: { connects: number; disconnects: number }[] } {
  const admins: { connects: number; disconnects: number }[] = []
  const kafka = {
    admin: () => {
      const made = { connects: 0, disconnects: 0 }
      admins.push(made)
      return {
        connect: async () => {
          made.connects++
        },
        disconnect: async () => {
          made.disconnects++
        },
        fetchTopicOffsets: () => {
          const answer = answers.shift() ?? 'ok'
          if (answer === 'hang') return new Promise(() => undefined)
          if (answer === 'refused') return Promise.reject(new Error('Connection error: ECONNREFUSED'))
          return Promise.resolve([{ partition: 0, offset: '7', high: '7', low: '2' }])
        },
      } as unknown as KafkaAdmin
    },
  } as unknown as KafkaClient
  return { kafka, admins }
}

describe('TopicOffsets', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('connects once and keeps the client while lookups succeed', async () => {
    const { kafka, admins } = standIn(['ok', 'ok', 'ok'])
    const offsets = new TopicOffsets(kafka, 't')
    for (let i = 0; i < 3; i++) expect((await offsets.fetch())[0]).toMatchObject({ offset: '7', low: '2' })
    expect(admins).toEqual([{ connects: 1, disconnects: 0 }])
    await offsets.close()
    expect(admins[0]?.disconnects).toBe(1)
  })

  it('drops a client whose lookup failed; the next lookup makes a new one', async () => {
    const { kafka, admins } = standIn(['refused', 'ok'])
    const offsets = new TopicOffsets(kafka, 't')
    await expect(offsets.fetch()).rejects.toThrow(/ECONNREFUSED/)
    expect(await offsets.fetch()).toHaveLength(1)
    expect(admins).toHaveLength(2)
    expect(admins[0]?.disconnects).toBe(1)
  })

  it('fails a lookup that hangs at the call deadline, retriably, and makes a new client next', async () => {
    const { kafka, admins } = standIn(['hang', 'ok'])
    const offsets = new TopicOffsets(kafka, 't')
    const failed = offsets.fetch().catch((err: unknown) => err)
    await vi.advanceTimersByTimeAsync(KAFKA_CALL_DEADLINE_MS)
    const err = await failed
    expect(isXrcError(err, 'XRC_KAFKA_UNREACHABLE')).toBe(true)
    expect((err as Error).message).toMatch(/did not answer the offsets of t within 30000 ms/)
    expect(await offsets.fetch()).toHaveLength(1)
    expect(admins).toHaveLength(2)
  })
})
