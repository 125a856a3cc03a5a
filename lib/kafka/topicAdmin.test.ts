import kafkajs from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../errors.js'
import { silentLogger } from '../logger.js'
import type { KafkaAdmin } from './client/index.js'
import { ensureTopic, isSettlingAdminError, journalTopicSpec, whileSettling } from './topicAdmin.js'

/** kafkajs builds protocol errors from the broker's error entry ({ type, code, retriable, message }); its typings say Error. */
const protocolError = (entry: { type: string; code: number; retriable: boolean; message: string }): Error =>
  new kafkajs.KafkaJSProtocolError(entry as unknown as Error)

/** The broker's answer while it has not heard of a topic yet (code 3, marked retriable by kafkajs). */
function unknownPartition(): Error {
  return protocolError({
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
    code: 3,
    retriable: true,
    message: 'This server does not host this topic-partition',
  })
}

/** An admin whose calls answer from `script` (an error is thrown, anything else returned). */
function scriptedAdmin(script: Record<string, unknown[]>): KafkaAdmin & { calls: string[] } {
  const calls: string[] = []
  const answer = (name: string) => async () => {
    calls.push(name)
    const next = script[name]?.length ? script[name].shift() : script[`${name}:last`]?.[0]
    if (next instanceof Error) throw next
    return next
  }
  return {
    calls,
    describeCluster: answer('describeCluster'),
    createTopics: answer('createTopics'),
    fetchTopicMetadata: answer('fetchTopicMetadata'),
    topicConfigs: answer('topicConfigs'),
  } as unknown as KafkaAdmin & { calls: string[] }
}

const oneBroker = { brokers: [{ nodeId: 1, host: 'h', port: 1 }], controller: 1, clusterId: 'c' }
const onePartition = { topics: [{ name: 't', partitions: [{ partitionId: 0 }] }] }
const bigEnough = new Map([['t', new Map([['max.message.bytes', String(10 * 1024 * 1024)]])]])

describe('ensureTopic while the cluster settles', () => {
  it('asks DescribeConfigs again when a broker has not heard of the topic yet (seen on a three-node cluster)', async () => {
    const admin = scriptedAdmin({
      describeCluster: [oneBroker],
      createTopics: [false],
      fetchTopicMetadata: [onePartition],
      topicConfigs: [unknownPartition(), unknownPartition(), bigEnough],
    })
    await ensureTopic(admin, journalTopicSpec('t', 64 * 1024), silentLogger)
    expect(admin.calls.filter((c) => c === 'topicConfigs')).toHaveLength(3)
  })

  it('asks DescribeCluster and CreateTopics again on retriable answers', async () => {
    const admin = scriptedAdmin({
      describeCluster: [unknownPartition(), oneBroker],
      createTopics: [unknownPartition(), true],
      fetchTopicMetadata: [onePartition],
      topicConfigs: [bigEnough],
    })
    await ensureTopic(admin, journalTopicSpec('t', 64 * 1024), silentLogger)
    expect(admin.calls).toEqual([
      'describeCluster',
      'describeCluster',
      'createTopics',
      'createTopics',
      'fetchTopicMetadata',
      'topicConfigs',
    ])
  })

  it('does not retry a refusal: a topic too small for the records fails at once, naming the setting', async () => {
    const admin = scriptedAdmin({
      describeCluster: [oneBroker],
      createTopics: [false],
      fetchTopicMetadata: [onePartition],
      topicConfigs: [new Map([['t', new Map([['max.message.bytes', '100']])]])],
    })
    await expect(ensureTopic(admin, journalTopicSpec('t', 64 * 1024), silentLogger)).rejects.toThrow(
      /mover\.journalRecordMaxBytes/,
    )
    expect(admin.calls.filter((c) => c === 'topicConfigs')).toHaveLength(1)
  })

  it('classifies errors: retriable broker codes settle, others and non-errors do not', () => {
    expect(isSettlingAdminError(unknownPartition())).toBe(true)
    expect(isSettlingAdminError({ type: 'LEADER_NOT_AVAILABLE' })).toBe(true)
    expect(
      isSettlingAdminError(
        protocolError({ type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false, message: 'no' }),
      ),
    ).toBe(false)
    expect(isSettlingAdminError(new Error('boom'))).toBe(false)
    // retriable for the stage, but not the broker settling: asked again on the same client it could hang again
    expect(
      isSettlingAdminError(new XrcError('XRC_KAFKA_UNREACHABLE', { reason: 'callDeadline', what: 'x', timeoutMs: 1 })),
    ).toBe(false)
    expect(isSettlingAdminError(null)).toBe(false)
    expect(isSettlingAdminError('text')).toBe(false)
  })
})

describe('whileSettling (admin calls of a running stage)', () => {
  const leaderElection = () =>
    protocolError({ type: 'LEADER_NOT_AVAILABLE', code: 5, retriable: true, message: 'no leader: election' })

  it('asks again while the cluster settles (a leader election in a rolling restart), then answers', async () => {
    let calls = 0
    const retried: unknown[] = []
    const offsets = await whileSettling(
      async () => {
        calls++
        if (calls < 4) throw leaderElection()
        return [{ partition: 0, offset: '7', low: '2', high: '7' }]
      },
      { onRetry: (err) => retried.push(err) },
    )
    expect(offsets).toEqual([{ partition: 0, offset: '7', low: '2', high: '7' }])
    expect(calls).toBe(4)
    expect(retried).toHaveLength(3)
  })

  it('throws a refusal at once, and stops asking when its signal aborts', async () => {
    let calls = 0
    const refused = protocolError({ type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false, message: 'no' })
    await expect(
      whileSettling(async () => {
        calls++
        throw refused
      }),
    ).rejects.toBe(refused)
    expect(calls).toBe(1)
    const stop = new AbortController()
    const asking = whileSettling(
      async () => {
        if (++calls === 3) stop.abort()
        throw leaderElection()
      },
      { signal: stop.signal },
    )
    await expect(asking).rejects.toThrow(/no leader|abort/i)
    expect(calls).toBeLessThanOrEqual(4)
  })
})
