/**
 * Kafka's own ceiling on this machine: Apache Kafka's ProducerPerformance
 * (from the stack's kafka-tools jars) with 4 KiB records to the same number
 * of partitions, acks=all and idempotence as the producer uses; and the same
 * bytes through plain kafkajs sendBatch, the client xrc is built on.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Kafka } from 'kafkajs'
import { CompressionTypes } from 'kafkajs'
import { XrcError } from '../lib/errors.js'
import type { StackPaths } from '../stack/paths.js'

const run = promisify(execFile)

/** Records sent and the rate achieved (MB = MiB, as ProducerPerformance counts). */

/** ProducerPerformance's last line: records, records/s, MB/s, mean latency (ms), ..., p99 latency (ms). */
const SUMMARY_LINE = new RegExp(
  String.raw`([\d.]+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ` +
    String.raw`([\d.]+) ms avg latency.* ([\d.]+) ms 99th`,
)

export interface ThroughputResult {
  records: number
  recordsPerSec: number
  mbPerSec: number
  seconds: number
}

/** Runs ProducerPerformance and parses its summary line. */
export async function producerPerformance(options: {
  paths: StackPaths
  brokers: readonly string[]
  topic: string
  records: number
  recordSize: number
}): Promise<ThroughputResult & { avgLatencyMs: number; p99LatencyMs: number }> {
  const args = [
    '-Xmx512m',
    '-cp',
    `${options.paths.kafkaLibs}/*`,
    '-Dlog4j2.level=WARN',
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic',
    options.topic,
    '--num-records',
    String(options.records),
    '--record-size',
    String(options.recordSize),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${options.brokers.join(',')}`,
    'acks=all',
    'enable.idempotence=true',
    'linger.ms=5',
    'batch.size=1048576',
    'max.in.flight.requests.per.connection=5',
  ]
  const started = performance.now()
  const { stdout } = await run('java', args, { maxBuffer: 16 * 1024 * 1024 }).catch((err: unknown) => {
    const e = err as { stderr?: string; message?: string }
    const output = (e.stderr ?? '').slice(-2000) || (e.message ?? '')
    throw new XrcError('XRC_KAFKA_UNREACHABLE', { reason: 'perfToolFailed', output }, { cause: err, retriable: false })
  })
  const seconds = (performance.now() - started) / 1000
  // "100000 records sent, 41528.239203 records/sec (162.22 MB/sec), 113.76 ms avg latency, 561.00 ms max latency, 90
  // ms 50th, 305 ms 95th, 420 ms 99th, 530 ms 99.9th."
  const line =
    stdout
      .trim()
      .split('\n')
      .filter((l) => l.includes('records sent'))
      .pop() ?? ''
  const m = SUMMARY_LINE.exec(line)
  if (!m)
    throw new XrcError(
      'XRC_KAFKA_UNREACHABLE',
      { reason: 'perfToolNoSummary', output: stdout.slice(-2000) },
      { retriable: false },
    )
  return {
    records: Number(m[1]),
    recordsPerSec: Number(m[2]),
    mbPerSec: Number(m[3]),
    avgLatencyMs: Number(m[4]),
    p99LatencyMs: Number(m[5]),
    seconds,
  }
}

/**
 * The same bytes with kafkajs sendBatch: `records` records of `recordSize`
 * bytes spread over `partitions`, `batch` records per partition per request,
 * idempotent with acks=-1.
 */
export async function kafkajsSendBatch(options: {
  kafka: Kafka
  topic: string
  partitions: number
  records: number
  recordSize: number
  batch: number
}): Promise<ThroughputResult> {
  const producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const value = Buffer.alloc(options.recordSize, 7)
  try {
    const started = performance.now()
    let sent = 0
    while (sent < options.records) {
      const per = Math.min(options.batch, Math.ceil((options.records - sent) / options.partitions))
      const topicMessages = [
        {
          topic: options.topic,
          messages: Array.from({ length: options.partitions * per }, (_, i) => ({
            partition: i % options.partitions,
            value,
          })),
        },
      ]
      await producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None })
      sent += options.partitions * per
    }
    const seconds = (performance.now() - started) / 1000
    return {
      records: sent,
      recordsPerSec: sent / seconds,
      mbPerSec: (sent * options.recordSize) / seconds / 1024 / 1024,
      seconds,
    }
  } finally {
    await producer.disconnect()
  }
}
