/**
 * The producer's way into Kafka: the session's updates topic (created when
 * missing), the RecordSet codec (schema registered under the topic's value
 * subject), and one idempotent producer for all controllers, of the client
 * library `kafka.client` names (lib/kafka/client).
 *
 * Ordering: the producer runs with one request in flight per broker, acks
 * -1, and the sender keeps at most one send in flight per partition and
 * resends the same record sets after a failure: record set N+1 never
 * reaches a partition before N.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import { XrcError, errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { KafkaConnection } from '../../lib/config.js'
import {
  connectAdmin,
  ensureTopic,
  kafkaAccessError,
  permissionPhrase,
  updatesTopicSpec,
  type TopicReplication,
} from '../../lib/kafka/index.js'
import {
  type IdempotentProducer,
  type KafkaClientName,
  connectIdempotentProducer,
} from '../../lib/kafka/client/index.js'
import { createCodec, type AvroCodec } from '../../schemas/codec.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { valueSubject } from '../../schemas/topicNames.js'
import { unwrittenBatches } from './sendCoverage.js'
import type { RegistryConnection } from '../../schemas/registryClient.js'

/** Produce calls one send makes at most for partitions the answer does not show written. */
const SEND_ROUNDS = 3

export interface OutboundMessage {
  key: string
  value: Buffer
  headers: Record<string, string>
}

/** Messages for one partition (one controller). */
export interface PartitionBatch {
  partition: number
  messages: OutboundMessage[]
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
  /**
   * Sends each partition's messages, in order, all in one produce request;
   * resolves when all replicas have them (acks -1). A failure fails the
   * whole request: the caller sends it again, unchanged (a partition that
   * had taken its part gets it twice; the mover drops the duplicates by
   * controller and seq).
   */
  send(batches: readonly PartitionBatch[]): Promise<void>
  /**
   * One quick round trip, no retries: resolves when the transport is open
   * (its schema registered), a broker answers and the topic has its
   * partitions (a suspended primary asks before it resumes).
   */
  probe?(): Promise<void>
  /**
   * Drops the producer (the next send makes a new one): after the
   * topic was deleted and made again, its idempotence state is void.
   */
  reset?(): Promise<void>
  close(): Promise<void>
}

export interface KafkaTransportOptions {
  /** The client of the topic's admin and of the producer. */
  kafka: KafkaClient
  /** The library of the producer (kafka.client); kafkajs when unset. */
  client?: KafkaClientName
  clientId?: string
  /** config.kafka: names the brokers and the SASL user when Kafka refuses this client. */
  connection: KafkaConnection
  topic: string
  /** Partitions the topic needs: the session's highest controller id + 1. */
  partitions: number
  registry: RegistryConnection
  /**
   * The largest record set the mover accepts (mover.maxRecordSetBytes);
   * also the topic's max.message.bytes less framing.
   */
  maxRecordSetBytes: number
  /** topics.*: replication of the topic when created here (unset: the cluster's defaults). */
  replication?: TopicReplication
  logger: Logger
  /** A ready codec (tests); made from the registry otherwise. */
  codec?: AvroCodec<RecordSet>
}

export function createKafkaTransport(options: KafkaTransportOptions): Transport {
  return new KafkaTransport(options)
}

class KafkaTransport implements Transport {
  readonly #options: KafkaTransportOptions
  readonly #topic: string
  readonly #log: Logger
  #producer: Promise<IdempotentProducer> | undefined
  #codec: AvroCodec<RecordSet> | undefined
  #closed = false
  // sends failed in a row: a few make the producer be recreated
  #failures = 0

  constructor(options: KafkaTransportOptions) {
    this.#options = options
    this.#topic = options.topic
    this.#log = options.logger
    this.#codec = options.codec
  }

  async open(): Promise<{ maxBatchBytes: number }> {
    if (this.#closed) throw new XrcError('XRC_CLOSED', { component: 'transport' })
    await this.#prepareTopic().catch((err: unknown) => {
      throw this.#accessError(err) ?? err
    })
    this.#codec ??= await createCodec<RecordSet>({
      registry: this.#options.registry,
      subject: valueSubject(this.#topic),
      schema: RECORD_SET_SCHEMA,
    })
    await this.#connected().catch((err: unknown) => {
      throw this.#accessError(err) ?? err
    })
    return { maxBatchBytes: this.#options.maxRecordSetBytes }
  }

  encode(rs: RecordSet): Buffer {
    if (this.#codec === undefined) throw new XrcError('XRC_CLOSED', { reason: 'notOpen', component: 'transport' })
    return this.#codec.encode(rs)
  }

  async send(batches: readonly PartitionBatch[]): Promise<void> {
    if (this.#closed) throw new XrcError('XRC_CLOSED', { component: 'transport' })
    try {
      const p = await this.#connected()
      await this.#sendAll(p, batches)
      this.#failures = 0
    } catch (err) {
      // refused, not out of reach: the sender stops on it instead of retrying
      const refused = this.#accessError(err)
      if (refused !== undefined) throw refused
      const retriable = (err as { retriable?: boolean }).retriable !== false
      if (!retriable || ++this.#failures >= 3) {
        this.#failures = 0
        await this.#reset(errorMessage(err))
      }
      const partitions = batches.map((b) => b.partition).join(',')
      throw new XrcError(
        'XRC_KAFKA_UNREACHABLE',
        { reason: batches.length > 1 ? 'sendMany' : 'send', topic: this.#topic, partitions, cause: err },
        { retriable },
      )
    }
  }

  /**
   * One produce call for every partition (kafkajs makes one request per leading broker of it), then again for any
   * partition the answer does not show written (sendCoverage.ts): a few times, then a retriable failure, so the
   * sender resends the same record sets and nothing is ever taken as sent that is not.
   */
  async #sendAll(p: IdempotentProducer, batches: readonly PartitionBatch[]): Promise<void> {
    let pending = batches
    for (let attempt = 1; ; attempt++) {
      const written = await p.send(
        this.#topic,
        pending.flatMap((b) =>
          b.messages.map((m) => ({ partition: b.partition, key: m.key, value: m.value, headers: m.headers })),
        ),
      )
      const unwritten = unwrittenBatches(pending, written)
      if (unwritten.length === 0) return
      const partitions = unwritten.map((b) => b.partition).join(',')
      if (attempt >= SEND_ROUNDS)
        throw new XrcError('XRC_KAFKA_UNREACHABLE', { reason: 'notWritten', topic: this.#topic, partitions })
      this.#log.warn({ partitions, attempt }, 'a send left partitions unwritten (a leader moved): sending them again')
      pending = unwritten
    }
  }

  reset(): Promise<void> {
    return this.#reset('the updates topic was made again')
  }

  async probe(): Promise<void> {
    const topic = this.#topic
    // a send needs the schema registered too: a registry out of reach at start leaves the transport unopened
    if (this.#codec === undefined) throw new XrcError('XRC_REGISTRY_UNREACHABLE', { reason: 'notRegistered', topic })
    const admin = this.#options.kafka.admin({ retries: 0 })
    await admin.connect()
    try {
      const have = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length ?? 0
      if (have < this.#options.partitions)
        throw new XrcError('XRC_KAFKA_UNREACHABLE', {
          reason: 'topicPartitions',
          topic,
          have,
          partitions: this.#options.partitions,
        })
    } finally {
      await admin.disconnect()
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    const p = this.#producer
    this.#producer = undefined
    await p?.then(
      (x) => x.close(),
      () => undefined,
    ) // a producer that never connected has nothing to close
  }

  async #connectProducer(): Promise<IdempotentProducer> {
    const { kafka } = this.#options
    const p = await connectIdempotentProducer(kafka, {
      library: this.#options.client ?? 'kafkajs',
      clientId: this.#options.clientId ?? 'xrc-producer',
    })
    if (this.#closed) {
      // closed while connecting (a stop during an outage): leave no connection behind
      await p.close()
      throw new XrcError('XRC_CLOSED', { reason: 'closedWhileConnecting', component: 'transport' })
    }
    return p
  }

  /** The shared producer, connected on first use and again after a reset. */
  #connected(): Promise<IdempotentProducer> {
    this.#producer ??= this.#connectProducer().catch((err: unknown) => {
      this.#producer = undefined
      throw err
    })
    return this.#producer
  }

  // A fresh producer (a new producer id, sequences from 0) gets past an idempotence state kafkajs cannot recover
  // from by itself (out-of-order sequence, unknown producer id) or a connection it keeps failing on; what it
  // resends that the old one had written is a duplicate the mover drops by (controller, seq).
  async #reset(reason: string): Promise<void> {
    const old = this.#producer
    this.#producer = undefined
    this.#log.warn({ topic: this.#topic, reason }, 'recreating the Kafka producer')
    await old
      ?.then((p) => p.close())
      .catch((err: unknown) => this.#log.warn({ err }, 'disconnecting the old Kafka producer failed'))
  }

  /** The non-retriable error of a refused login, TLS handshake or ACL, naming what a send needs; else undefined. */
  #accessError(err: unknown): XrcError | undefined {
    return kafkaAccessError(err, this.#options.connection, {
      permission: permissionPhrase('WRITE', { resourceType: 'TOPIC', name: this.#topic }),
    })
  }

  async #prepareTopic(): Promise<void> {
    const { kafka, partitions, maxRecordSetBytes } = this.#options
    const admin = await connectAdmin(kafka)
    try {
      await ensureTopic(
        admin,
        updatesTopicSpec(this.#topic, partitions, maxRecordSetBytes),
        this.#log,
        this.#options.replication,
      )
    } finally {
      await admin.disconnect()
    }
  }
}
