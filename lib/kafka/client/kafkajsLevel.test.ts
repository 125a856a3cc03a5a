import { logLevel } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { kafkajsLevel } from './kafkaClient.js'

const CONCURRENT =
  'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'

describe('kafkajsLevel', () => {
  it('keeps kafkajs levels for every other line', () => {
    expect(kafkajsLevel(logLevel.ERROR, 'Response Produce(key: 0, version: 7)', { error: 'Connection timeout' })).toBe(
      'error',
    )
    expect(kafkajsLevel(logLevel.ERROR, 'Failed to send messages: Connection timeout', {})).toBe('error')
    expect(kafkajsLevel(logLevel.WARN, 'Response JoinGroup', { error: 'The group is rebalancing' })).toBe('warn')
    expect(kafkajsLevel(logLevel.INFO, 'Starting', {})).toBe('info')
    expect(kafkajsLevel(logLevel.DEBUG, 'Request Fetch', {})).toBe('debug')
    expect(kafkajsLevel(logLevel.NOTHING, 'odd', {})).toBe('info')
  })

  it('logs the attempts kafkajs retries by itself (CONCURRENT_TRANSACTIONS) at debug, as Connection and Producer write them', () => {
    // Connection: the response, with the broker's error beside it
    expect(
      kafkajsLevel(logLevel.ERROR, 'Response AddPartitionsToTxn(key: 24, version: 1)', { error: CONCURRENT }),
    ).toBe('debug')
    // Producer: the error in the message itself
    expect(kafkajsLevel(logLevel.ERROR, `Failed to send messages: ${CONCURRENT}`, {})).toBe('debug')
  })

  it('reads the message and a string error only: an error object is left as it is', () => {
    expect(kafkajsLevel(logLevel.ERROR, 'Response AddPartitionsToTxn', { error: { message: CONCURRENT } })).toBe(
      'error',
    )
  })
})
