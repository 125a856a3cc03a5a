/**
 * The producer's way into Kafka: the session's updates topic (created when
 * missing), the RecordSet codec (schema registered under the topic's value
 * subject), and one kafkajs idempotent producer per controller (each its
 * own connection), so the controllers' streams go to Kafka side by side, as
 * separate storage controllers would, instead of queuing behind one another
 * on one connection (kafkajs sends one idempotent produce request per broker
 * and producer at a time).
 *
 * Ordering: kafkajs does not reassign sequence numbers after a failed
 * batch as the Java client does (KAFKA-5494); it serializes produce
 * requests per broker under a lock and rolls the partition's sequence back
 * when a request fails. So the producer runs with maxInFlightRequests 1
 * (what KIP-98 required of idempotence), acks -1, and the sender keeps at
 * most one send in flight per partition and resends the same record sets
 * after a failure: record set N+1 never reaches a partition before N.
 */
import kafkajs, { type Kafka, type Producer } from 'kafkajs'
import { XrcError, errorMessage } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import { ensureTopic, updatesTopicSpec } from '../lib/topics.js'
import { createCodec, type AvroCodec } from '../schemas/codec.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../schemas/recordSet.js'
import { valueSubject } from '../schemas/topics.js'

// kafkajs is CommonJS: Node's ESM loader sees only some of its named exports, so take these from the default export
const { Partitioners } = kafkajs


export interface OutboundMessage {
  key: string
  value: Buffer
  headers: Record<string, string>
}

export interface Transport {
  /**
   * Connects, creates the topic when missing (checks its partitions and
   * max.message.bytes when not), registers the schema. Returns the largest
   * batch of messages one send may carry to a partition. Throws a retriable error while Kafka or
   * the registry is out of reach, XRC_CONFIG_INVALID when the topic cannot serve the session.
   */
  open(): Promise<{ maxBatchBytes: number }>
  /** Encodes with the registered schema (after open). */
  encode(rs: RecordSet): Buffer
  /** Sends messages to one partition, in order, as one batch; resolves when all replicas have them (acks -1). */
  send(partition: number, messages: OutboundMessage[]): Promise<void>
  /**
   * One quick round trip, no retries: resolves when the transport is open
   * (its schema registered), a broker answers and the topic has its
   * partitions (a suspended primary asks before it resumes).
   */
  probe?(): Promise<void>
  /** Drops the producer (the next send makes a new one): after the topic was deleted and made again, its idempotence state is void. */
  reset?(): Promise<void>
  close(): Promise<void>
}

export interface KafkaTransportOptions {
  kafka: Kafka
  topic: string
  /** Partitions the topic needs: the session's highest controller id + 1. */
  partitions: number
  registryUrl: string
  /** The largest record set the mover accepts (mover.maxRecordSetBytes); also the topic's max.message.bytes less framing. */
  maxRecordSetBytes: number
  logger: Logger
  /** A ready codec (tests); made from the registry otherwise. */
  codec?: AvroCodec<RecordSet>
}

export function createKafkaTransport(options: KafkaTransportOptions): Transport {
  const { kafka, topic, logger } = options
  /** One producer per partition (controller), connected on its first send and again after a reset. */
  const producers = new Map<number, Promise<Producer>>()
  const failures = new Map<number, number>()
  let codec = options.codec
  let closed = false

  async function connectProducer(): Promise<Producer> {
    const p = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // a few quick retries inside kafkajs; past them the sender backs off and resends the same batch, so an outage
      // shows in status. kafkajs warns that limited retries may break exactly-once: resending the same batch, in order,
      // one at a time per partition, is what keeps it (and the mover drops any duplicate by seq).
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    })
    await p.connect()
    if (closed) {
      // closed while connecting (a stop during an outage): leave no connection behind
      await p.disconnect()
      throw new XrcError('XRC_CLOSED', 'transport closed while connecting')
    }
    return p
  }

  /** The partition's producer, connected on first use and again after a reset. */
  function connected(partition: number): Promise<Producer> {
    let p = producers.get(partition)
    if (p === undefined) {
      p = connectProducer().catch((err: unknown) => {
        producers.delete(partition)
        throw err
      })
      producers.set(partition, p)
    }
    return p
  }

  /** Drops the producers (all, or one partition's) and disconnects them. */
  async function drop(partitions: readonly number[]): Promise<void> {
    const old = partitions.map((n) => producers.get(n)).filter((p) => p !== undefined)
    for (const n of partitions) producers.delete(n)
    await Promise.all(old.map((p) => p.then((x) => x.disconnect(), () => undefined))).catch((err: unknown) => logger.warn({ err }, 'disconnecting an old Kafka producer failed'))
  }

  // A fresh producer (a new producer id, sequences from 0) gets past an idempotence state kafkajs cannot recover
  // from by itself (out-of-order sequence, unknown producer id) or a connection it keeps failing on; what it
  // resends that the old one had written is a duplicate the mover drops by (controller, seq).
  async function reset(reason: string, partition?: number): Promise<void> {
    logger.warn({ topic, reason, ...(partition !== undefined ? { partition } : {}) }, 'recreating the Kafka producer')
    await drop(partition !== undefined ? [partition] : [...producers.keys()])
  }

  async function prepareTopic(): Promise<void> {
    const admin = kafka.admin()
    await admin.connect()
    try {
      await ensureTopic(admin, updatesTopicSpec(topic, options.partitions, options.maxRecordSetBytes), logger)
    } finally {
      await admin.disconnect()
    }
  }

  return {
    async open() {
      if (closed) throw new XrcError('XRC_CLOSED', 'transport closed')
      await prepareTopic()
      codec ??= await createCodec<RecordSet>({ registryUrl: options.registryUrl, subject: valueSubject(topic), schema: RECORD_SET_SCHEMA })
      await connected(0)
      return { maxBatchBytes: options.maxRecordSetBytes }
    },
    encode(rs) {
      if (codec === undefined) throw new XrcError('XRC_CLOSED', 'transport not open: no codec yet')
      return codec.encode(rs)
    },
    async send(partition, messages) {
      if (closed) throw new XrcError('XRC_CLOSED', 'transport closed')
      try {
        const p = await connected(partition)
        await p.send({ topic, acks: -1, messages: messages.map((m) => ({ partition, key: m.key, value: m.value, headers: m.headers })) })
        failures.delete(partition)
      } catch (err) {
        const retriable = (err as { retriable?: boolean }).retriable !== false
        const streak = (failures.get(partition) ?? 0) + 1
        failures.set(partition, streak)
        if (!retriable || streak >= 3) {
          failures.delete(partition)
          await reset(errorMessage(err), partition)
        }
        throw new XrcError('XRC_KAFKA_UNREACHABLE', `send to ${topic} partition ${partition} failed: ${errorMessage(err)}`, { cause: err, retriable, context: { partition } })
      }
    },
    reset: () => reset('the updates topic was made again'),
    async probe() {
      // a send needs the schema registered too: a registry out of reach at start leaves the transport unopened
      if (codec === undefined) throw new XrcError('XRC_REGISTRY_UNREACHABLE', `the schema of ${topic} is not registered yet: the schema registry has not answered`)
      const admin = kafka.admin({ retry: { retries: 0 } })
      await admin.connect()
      try {
        const have = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length ?? 0
        if (have < options.partitions) throw new XrcError('XRC_KAFKA_UNREACHABLE', `topic ${topic} has ${have} of the ${options.partitions} partitions the session needs`)
      } finally {
        await admin.disconnect()
      }
    },
    async close() {
      closed = true
      await drop([...producers.keys()]) // a producer that never connected has nothing to close
    },
  }
}
