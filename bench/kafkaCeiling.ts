/**
 * Kafka's own ceiling on this machine: Apache Kafka's ProducerPerformance
 * (from the stack's kafka-tools jars) with 4 KiB records to the same number
 * of partitions, acks=all and idempotence as the producer uses, with the CPU
 * it cost the client and the broker; the same bytes through plain kafkajs
 * sendBatch; and through the primary's own producer on each Kafka client
 * library xrc runs on (kafka.client).
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
// kafkajs's own sendBatch, measured as a reference line beside the seam's producers (eslint allows this file)
import { CompressionTypes, Kafka, logLevel } from 'kafkajs'
import type { KafkaConnection } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import {
  type KafkaClient,
  type KafkaClientName,
  connectIdempotentProducer,
  createKafkaClient,
  createTransactionalProducer,
} from '../lib/kafka/client/index.js'
import { silentLogger } from '../lib/logger.js'
import type { StackPaths } from '../stack/paths.js'
import { readEndedChildrenCpuUs, readProcSample } from './procStats.js'

const run = promisify(execFile)

/** ProducerPerformance's last line: records, records/s, MB/s, mean latency (ms), ..., p99 latency (ms). */
const SUMMARY_LINE = new RegExp(
  String.raw`([\d.]+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ` +
    String.raw`([\d.]+) ms avg latency.* ([\d.]+) ms 99th`,
)

/** Records sent and the rate achieved (MB = MiB, as ProducerPerformance counts). */
export interface ThroughputResult {
  records: number
  recordsPerSec: number
  mbPerSec: number
  seconds: number
}

/**
 * What a ceiling cost in CPU, µs per block (utime + stime): the client (ProducerPerformance's JVM; for COPY the
 * bench's own Node process) and the server (the broker; the PostgreSQL backend). NaN where a process could not be
 * read.
 */
export interface CeilingCpu {
  clientUsPerBlock: number
  serverUsPerBlock: number
}

/** The broker's pid from the stack's pid file; undefined when there is none (a broker the stack did not start). */
export async function readBrokerPid(pidFile: string): Promise<number | undefined> {
  const pid = await readFile(pidFile, 'utf8').then(
    (s) => Number(s.trim()),
    () => Number.NaN,
  )
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/** CPU a process used between two samples, µs; NaN when either is missing or the pid was reused. */
export function cpuBetween(
  before: { pid: number; cpuUs: number } | undefined,
  after: { pid: number; cpuUs: number } | undefined,
): number {
  return before !== undefined && after !== undefined && before.pid === after.pid
    ? after.cpuUs - before.cpuUs
    : Number.NaN
}

/**
 * Runs ProducerPerformance and parses its summary line. Its CPU is the JVM's whole life (start-up included), read as
 * the bench's ended children's CPU (nothing else of the bench's ends meanwhile); the broker's is /proc/<pid> over the
 * same span, so on a shared stack it includes what other clients asked of the broker meanwhile.
 */
export async function producerPerformance(options: {
  paths: StackPaths
  brokers: readonly string[]
  topic: string
  records: number
  recordSize: number
  /** The broker's process, whose CPU counts as the ceiling's server side. */
  brokerPid?: number
}): Promise<ThroughputResult & { avgLatencyMs: number; p99LatencyMs: number; cpu: CeilingCpu }> {
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
  const broker = async (): Promise<Awaited<ReturnType<typeof readProcSample>>> =>
    options.brokerPid === undefined ? undefined : readProcSample(options.brokerPid)
  const [childrenBefore, brokerBefore] = await Promise.all([readEndedChildrenCpuUs(), broker()])
  const started = performance.now()
  const { stdout } = await run('java', args, { maxBuffer: 16 * 1024 * 1024 }).catch((err: unknown) => {
    const e = err as { stderr?: string; message?: string }
    const output = (e.stderr ?? '').slice(-2000) || (e.message ?? '')
    throw new XrcError('XRC_KAFKA_UNREACHABLE', { reason: 'perfToolFailed', output }, { cause: err, retriable: false })
  })
  const seconds = (performance.now() - started) / 1000
  const [childrenAfter, brokerAfter] = await Promise.all([readEndedChildrenCpuUs(), broker()])
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
    cpu: {
      clientUsPerBlock: (childrenAfter - childrenBefore) / Number(m[1]),
      serverUsPerBlock: cpuBetween(brokerBefore, brokerAfter) / Number(m[1]),
    },
  }
}

/**
 * The same bytes with kafkajs sendBatch: `records` records of `recordSize`
 * bytes spread over `partitions`, `batch` records per partition per request,
 * idempotent with acks=-1.
 */
export async function kafkajsSendBatch(options: {
  kafka: KafkaClient
  topic: string
  partitions: number
  records: number
  recordSize: number
  batch: number
}): Promise<ThroughputResult> {
  const kafka = new Kafka({
    clientId: 'xrc-bench-sendbatch',
    brokers: [...options.kafka.connection.brokers],
    logLevel: logLevel.NOTHING,
  })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
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

/**
 * The same bytes through the primary's own producer (lib/kafka/client) on `client`: each send carries `batch` records
 * to every partition, one send at a time, as the primary's transport sends; idempotent, acks=all. The client's CPU is
 * the bench process's own over the span (nothing else of the bench runs meanwhile), the broker's /proc/<pid>.
 */
export async function clientSend(options: {
  client: KafkaClientName
  connection: KafkaConnection
  topic: string
  partitions: number
  records: number
  recordSize: number
  batch: number
  brokerPid?: number
}): Promise<ThroughputResult & { cpu: CeilingCpu }> {
  const producer = await connectIdempotentProducer(benchClient(options.connection, options.client))
  const value = Buffer.alloc(options.recordSize, 7)
  const headers = { 'xrc.controller': '0' }
  const broker = async (): Promise<Awaited<ReturnType<typeof readProcSample>>> =>
    options.brokerPid === undefined ? undefined : readProcSample(options.brokerPid)
  try {
    const brokerBefore = await broker()
    const cpuBefore = process.cpuUsage()
    const started = performance.now()
    let sent = 0
    while (sent < options.records) {
      const per = Math.min(options.batch, Math.ceil((options.records - sent) / options.partitions))
      const records = Array.from({ length: options.partitions * per }, (_, i) => ({
        partition: i % options.partitions,
        key: String(i % options.partitions),
        value,
        headers,
      }))
      const written = await producer.send(options.topic, records)
      if (written.size < options.partitions)
        throw new XrcError('XRC_KAFKA_UNREACHABLE', {
          reason: 'notWritten',
          topic: options.topic,
          partitions: String(options.partitions - written.size),
        })
      sent += records.length
    }
    const seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const brokerAfter = await broker()
    return {
      records: sent,
      recordsPerSec: sent / seconds,
      mbPerSec: (sent * options.recordSize) / seconds / 1024 / 1024,
      seconds,
      cpu: {
        clientUsPerBlock: (cpu.user + cpu.system) / sent,
        serverUsPerBlock: cpuBetween(brokerBefore, brokerAfter) / sent,
      },
    }
  } finally {
    await producer.close()
  }
}

/**
 * Transactions of one small record each, as the mover journals a group's marker, through the seam's transactional
 * producer on `client`, each begun `spacingMs` after the one before began (the mover's floor between cuts,
 * mover.groupMinIntervalMs, when it is busy): the latency of each (begin, send, commit), ms. The first transaction
 * (which claims the transactional id) is not counted.
 */
export async function clientTransactions(options: {
  client: KafkaClientName
  connection: KafkaConnection
  topic: string
  transactions: number
  spacingMs: number
}): Promise<number[]> {
  const producer = createTransactionalProducer(benchClient(options.connection, options.client), {
    transactionalId: `xrc-bench-tx-${options.client}-${process.pid}-${Date.now()}`,
    transactionTimeoutMs: 60_000,
    retries: 12,
    retryDelayMs: 10,
  })
  await producer.connect()
  const value = Buffer.alloc(200, 1)
  const latencies: number[] = []
  try {
    let began = Number.NEGATIVE_INFINITY
    for (let i = 0; i <= options.transactions; i++) {
      const wait = began + options.spacingMs - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      began = performance.now()
      const tx = await producer.begin()
      await tx.send(options.topic, [{ partition: 0, key: String(i), value, headers: { 'xrc.group-seq': String(i) } }])
      await tx.commit()
      if (i > 0) latencies.push(performance.now() - began)
    }
  } finally {
    await producer.close()
  }
  return latencies
}

/** A quiet client of `connection` on `library`, for the bench's producers. */
function benchClient(connection: KafkaConnection, library: KafkaClientName): KafkaClient {
  return createKafkaClient({
    connection,
    library,
    clientId: `xrc-bench-${library}`,
    logger: silentLogger,
    logs: 'none',
  })
}
