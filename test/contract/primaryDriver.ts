/**
 * The driver of the stage contract (stageContract.ts) for the primary: host writes in, the
 * controllers' record sets out on the updates topic, each partition's
 * updates in seq order. Item i is a one-block write to volume v{i%3}a,
 * block floor(i/3), its number in the block's first bytes. A bad item is a
 * write of a partial block: refused with XRC_INVALID_RECORD, the stream
 * goes on. Its downstream is Kafka; suspension is off here
 * (resync.suspendAfterUnreachableMs 0), so writes made while Kafka is away
 * wait in the sidefiles and keep their seqs.
 *
 * "Once" is per seq: the updates topic is at-least-once by design. A started
 * primary sends what its sidefile still holds, and trimmed entries stay in
 * the sidefile's last segment, so a restart sends some record sets again
 * under the same seqs (the mover drops them as re-sends). A seq seen again
 * with the same write is such a re-send; with another write, or a seq
 * skipped, the item counts as wrong (-1).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isXrcError } from '../../lib/errors.js'
import { loadConfig } from '../../lib/config.js'
import { createKafkaClient } from '../../lib/kafka/index.js'
import type { KafkaClientName } from '../../lib/kafka/client/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createCodec } from '../../schemas/codec.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { createPrimary, type Primary } from '../../producer/index.js'
import { uniqueName } from '../kit/names.js'
import { deleteSubject, stackInfo } from '../kit/servers.js'
import type { StageDriver } from './stageContract.js'
import { followTopic } from './topicFollower.js'
import { registryAt } from '../../schemas/registryClient.js'

const BLOCK = 512
const CONTROLLERS = [0, 1, 2]

const block = (item: number): Buffer => {
  const data = Buffer.alloc(BLOCK, item & 0xff)
  data.writeUInt32BE(item, 0)
  return data
}
const placement = (item: number): { controller: number; volume: string; block: number } => ({
  controller: item % 3,
  volume: `v${item % 3}a`,
  block: Math.floor(item / 3),
})

/** The primary's contract with its producer on `client` (kafka.client). */
export const primaryDriver = (client: KafkaClientName): StageDriver<Primary> => ({
  name: 'primary',
  variant: `kafka.client ${client}`,
  downstream: 'kafka',
  feedsWhileStopped: false,
  inputOnDownstream: false,
  badItem: { expect: 'set-aside', code: 'XRC_INVALID_RECORD' },
  async open(servers) {
    const name = uniqueName('ctp')
    const dataDir = await mkdtemp(join(tmpdir(), 'xrc-contract-'))
    const brokers = servers.kafkaBrokers ?? stackInfo().kafkaBrokers
    const config = loadConfig({
      overrides: {
        kafka: { brokers, client },
        schemaRegistry: { url: stackInfo().registryUrl },
        log: { level: 'silent' },
        session: {
          name,
          blockSize: BLOCK,
          dataDir,
          controllers: CONTROLLERS.map((id) => ({
            id,
            volumes: [
              { name: `v${id}a`, blocks: 512 },
              { name: `v${id}b`, blocks: 8 },
            ],
          })),
        },
        producer: { heartbeatMs: 100, lingerMs: 2 },
        resync: { suspendAfterUnreachableMs: 0 },
      },
    })
    const topic = sessionTopics(name).updates
    const kafka = createKafkaClient({
      connection: { brokers },
      clientId: uniqueName('contract'),
      logger: silentLogger,
      logs: 'none',
    })
    const follower = followTopic(kafka, topic, CONTROLLERS.length)
    const codec = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: valueSubject(topic),
      schema: RECORD_SET_SCHEMA,
    })
    const refused: string[] = []
    const need = (stage: Primary | undefined): Primary => {
      if (stage === undefined) throw new Error('the primary is fed through a running primary')
      return stage
    }
    return {
      create: () => createPrimary({ config, logger: silentLogger }),
      async feed(stage, from, to) {
        const primary = need(stage)
        // one write per controller at a time: each controller's writes in item order
        for (let i = from; i < to; i += CONTROLLERS.length) {
          const batch = Array.from({ length: Math.min(CONTROLLERS.length, to - i) }, (_, k) => i + k)
          await Promise.all(
            batch.map((item) => {
              const { volume, block: at } = placement(item)
              return primary.write({ volume, block: at, data: block(item) })
            }),
          )
        }
      },
      async feedBad(stage) {
        try {
          await need(stage).write({ volume: 'v0b', block: 0, data: Buffer.alloc(BLOCK - 1) })
        } catch (err) {
          refused.push(isXrcError(err) ? err.code : String(err))
        }
      },
      async output() {
        const partitions = await follower.read()
        return Promise.all(
          partitions.map(async (messages, partition) => {
            const items: number[] = []
            const bySeq = new Map<number, number>()
            for (const m of messages) {
              const rs = await codec.decode(m.value as Buffer)
              if (rs.kind === 'HEARTBEAT') continue
              for (const u of rs.updates) {
                const item = u.data.readUInt32BE(0)
                const at = placement(item)
                const right =
                  rs.controller === partition &&
                  at.controller === partition &&
                  u.volume === at.volume &&
                  u.block === at.block &&
                  u.data.equals(block(item))
                const earlier = bySeq.get(u.seq)
                if (earlier !== undefined) {
                  if (earlier !== item || !right) items.push(-1) // a seq reused for another write
                  continue // a re-send
                }
                bySeq.set(u.seq, item)
                // seqs from 1 without a gap: the k-th new seq is k
                items.push(right && u.seq === bySeq.size ? item : -1)
              }
            }
            return items
          }),
        )
      },
      setAside: () => Promise.resolve([...refused]),
      async cleanup() {
        const admin = kafka.admin()
        await admin.connect()
        try {
          if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic] })
        } finally {
          await admin.disconnect()
        }
        await deleteSubject(valueSubject(topic))
        await rm(dataDir, { recursive: true, force: true })
      },
    }
  },
})
