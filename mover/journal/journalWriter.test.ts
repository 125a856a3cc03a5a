/**
 * The journal writer's call deadline: a call of the Kafka client that never
 * settles (a transactional call to a broker that died under it, seen in the
 * three-node soak) fails the write or the claim of the transactional id
 * within the deadline, instead of stalling the mover for good; the hung
 * producer is dropped (its disconnect waited on only so long) and the next
 * open() makes a new one. Against a stand-in for kafkajs whose calls can be
 * made to hang; fake timers, so nothing waits in real time.
 */
import type { Kafka, Producer, Transaction } from 'kafkajs'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { XrcError, isXrcError } from '../../lib/errors.js'
import { createKafkaClient } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { JournalRecord } from '../../schemas/journal.js'
import { createGroupFormer, type FormedGroup } from '../groups/index.js'
import { createJournalWriter, type JournalWriter } from './journalWriter.js'

const DEADLINE_MS = 1000
type Call = 'connect' | 'transaction' | 'send' | 'commit' | 'abort' | 'disconnect'

/** kafkajs's producer as far as the writer uses it; the calls in `hang` never settle. */
function standIn(hang: Set<Call>): { kafka: Kafka; producers: { calls: Call[] }[] } {
  const producers: { calls: Call[] }[] = []
  const kafka = {
    producer: () => {
      const made = { calls: [] as Call[] }
      producers.push(made)
      const call = <T>(name: Call, value: T): Promise<T> => {
        made.calls.push(name)
        return hang.has(name) ? new Promise<T>(() => undefined) : Promise.resolve(value)
      }
      const tx = {
        send: () => call('send', []),
        commit: () => call('commit', undefined),
        abort: () => call('abort', undefined),
        isActive: () => true,
      } as unknown as Transaction
      return {
        connect: () => call('connect', undefined),
        transaction: () => call('transaction', tx),
        disconnect: () => call('disconnect', undefined),
      } as unknown as Producer
    },
  } as unknown as Kafka
  return { kafka, producers }
}

const codec = { encode: () => Buffer.from('marker') } as unknown as AvroCodec<JournalRecord>

/** A group as the former cuts it: one controller's heartbeat moves the consistency time. */
function group(): FormedGroup {
  const former = createGroupFormer({
    layout: { name: 's', blockSize: 4, controllers: [{ id: 0, volumes: [{ name: 'v', blocks: 8 }] }] },
  })
  former.add(0, {
    session: 's',
    controller: 0,
    kind: 'HEARTBEAT',
    firstSeq: 1,
    lastSeq: 0,
    minTime: 100,
    maxTime: 100,
    updates: [],
  })
  const g = former.cut()
  if (g === undefined) throw new Error('the former cut no group')
  return g
}

function writer(kafka: Kafka): JournalWriter {
  return createJournalWriter({
    // the producer is made of the stand-in kafkajs client
    kafka: createKafkaClient({
      connection: { brokers: ['127.0.0.1:9'] },
      clientId: 't',
      logger: silentLogger,
      kafkajs: kafka,
    }),
    session: 's',
    topic: 'journal',
    codec,
    maxRecordBytes: 1 << 20,
    transactionTimeoutMs: 60_000,
    logger: silentLogger,
    callDeadlineMs: DEADLINE_MS,
  })
}

/** `work`'s rejection, with the fake clock moved on until it settles. */
async function rejectionOf(work: Promise<unknown>): Promise<unknown> {
  const outcome = work.then(
    () => new Error('it resolved'),
    (err: unknown) => err,
  )
  await vi.advanceTimersByTimeAsync(10 * DEADLINE_MS)
  return outcome
}

const deadlineCause = (err: unknown): XrcError | undefined => {
  const cause = isXrcError(err, 'XRC_KAFKA_UNREACHABLE') ? err : (err as { cause?: unknown }).cause
  return isXrcError(cause, 'XRC_KAFKA_UNREACHABLE') ? cause : undefined
}

describe('journal writer: the call deadline', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('fails a commit that never settles as committed: unknown, and open() then claims the id with a new producer', async () => {
    const hang = new Set<Call>(['commit'])
    const { kafka, producers } = standIn(hang)
    const w = writer(kafka)
    await w.open()
    const err = await rejectionOf(w.write(group()))
    expect(isXrcError(err, 'XRC_JOURNAL_WRITE_FAILED')).toBe(true)
    expect((err as XrcError).context).toMatchObject({ committed: 'unknown', groupSeq: 1 })
    expect(deadlineCause(err)?.message).toMatch(/did not answer the commit of group 1 within 1000 ms/)
    hang.clear()
    await w.open()
    expect(producers).toHaveLength(2)
    expect(producers[0]?.calls).toContain('disconnect')
    expect(producers[1]?.calls).toEqual(['connect', 'transaction', 'abort'])
    await expect(w.write(group())).resolves.toMatchObject({ parts: 1 })
  })

  it('fails a send that never settles as committed: no', async () => {
    const { kafka } = standIn(new Set(['send']))
    const w = writer(kafka)
    await w.open()
    const err = await rejectionOf(w.write(group()))
    expect(isXrcError(err, 'XRC_JOURNAL_WRITE_FAILED')).toBe(true)
    expect((err as XrcError).context).toMatchObject({ committed: 'no' })
    expect(deadlineCause(err)).toBeDefined()
  })

  it('fails an open() whose InitProducerId never settles, retriably, and drops a producer whose disconnect hangs', async () => {
    const hang = new Set<Call>(['transaction', 'disconnect'])
    const { kafka, producers } = standIn(hang)
    const w = writer(kafka)
    const err = await rejectionOf(w.open())
    expect(deadlineCause(err)?.message).toMatch(/did not answer InitProducerId within 1000 ms/)
    expect((err as XrcError).retriable).toBe(true)
    hang.delete('transaction')
    const reopened = w.open()
    await vi.advanceTimersByTimeAsync(10_000) // the hung disconnect is waited on only so long
    await reopened
    expect(producers).toHaveLength(2)
    await expect(w.write(group())).resolves.toMatchObject({ parts: 1 })
  })
})
