/**
 * The driver of the stage contract (stageContract.ts) for the applier: journal groups in,
 * blocks out in the PostgreSQL store, the control row advanced. Item i is
 * the update of block i of volume va (one controller, seqs and times in
 * item order), ten items a group, each group one journal transaction; the
 * output stream is the items of the groups applied, in the order the
 * applier applied them (onGroup), each checked against the block the store
 * holds and the control row. A bad item is a journal record that does not
 * decode: the applier halts with XRC_DECODE_FAILED, having applied every
 * group before it and none after (it never skips a group). Its downstream
 * is PostgreSQL (a private cluster in case 4); the journal stays on the
 * shared broker.
 */
import pg from 'pg'
import type { KafkaClientName } from '../../lib/kafka/client/index.js'
import { createApplier, createBlockStore, type Applier, type BlockStore } from '../../applier/index.js'
import { loadConfig } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, ident } from '../../lib/postgres.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import { createTestJournal, toRecords, type TestJournal } from '../kit/journal.js'
import { uniqueName } from '../kit/names.js'
import { stackInfo, testKafka } from '../kit/servers.js'
import type { StageDriver } from './stageContract.js'

const BLOCK = 512
const PER_GROUP = 10
const VOLUME = { name: 'va', blocks: 1024 }

const block = (item: number): Buffer => {
  const data = Buffer.alloc(BLOCK, item & 0xff)
  data.writeUInt32BE(item, 0)
  return data
}

/** The applier's contract with its readers on `client` (kafka.client). */
export const applierDriver = (client: KafkaClientName): StageDriver<Applier> => ({
  name: 'applier',
  variant: `kafka.client ${client}`,
  downstream: 'postgres',
  feedsWhileStopped: true,
  inputOnDownstream: false,
  badItem: { expect: 'halt', code: 'XRC_DECODE_FAILED' },
  async open(servers) {
    const databaseUrl = servers.databaseUrl ?? stackInfo().databaseUrl
    const kafka = testKafka()
    const admin = kafka.admin()
    await admin.connect()
    const journal: TestJournal = await createTestJournal(kafka, admin)
    const schema = uniqueName('cta')
    const config = loadConfig({
      overrides: {
        kafka: { brokers: stackInfo().kafkaBrokers, client },
        schemaRegistry: { url: stackInfo().registryUrl },
        database: { url: databaseUrl },
        log: { level: 'silent' },
        session: { name: journal.session, blockSize: BLOCK, controllers: [{ id: 0, volumes: [VOLUME] }] },
        applier: { schema },
      },
    })
    // the store as a reader sees it, with a pool of its own (the applier's ends with it)
    const pool = createPool({ url: databaseUrl, logger: silentLogger, max: 2 })
    const store: BlockStore = createBlockStore({
      pool,
      schema,
      session: journal.session,
      blockSize: BLOCK,
      volumes: [VOLUME],
    })
    /** The groups fed, by groupSeq; and the groups applied, in the order they were applied. */
    const fed = new Map<number, number[]>()
    const applied: number[] = []
    let groupSeq = 0
    const epoch = Date.now() * 1000
    const group = (items: number[]): ConsistencyGroup => {
      groupSeq++
      const last = items[items.length - 1] as number
      return {
        session: journal.session,
        groupSeq,
        groupTime: epoch + 2 * last + 1,
        updates: items.map((i) => ({
          controller: 0,
          seq: i + 1,
          time: epoch + 2 * i,
          volume: VOLUME.name,
          block: i,
          data: block(i),
        })),
        controllers: [{ controller: 0, lastSeq: last + 1, lastTime: epoch + 2 * last, resumeOffset: 0 }],
      }
    }
    return {
      create: () =>
        createApplier({
          config,
          logger: silentLogger,
          onGroup: (e) => {
            if (e.outcome === 'applied') applied.push(e.groupSeq)
          },
        }),
      async feed(_stage, from, to) {
        for (let i = from; i < to; i += PER_GROUP) {
          const items = Array.from({ length: Math.min(PER_GROUP, to - i) }, (_, k) => i + k)
          const g = group(items)
          fed.set(g.groupSeq, items)
          await journal.write(toRecords(g))
        }
      },
      async feedBad() {
        await journal.writeRaw([Buffer.from('not a journal record')])
      },
      async output() {
        const items = applied.flatMap((seq) => fed.get(seq) ?? [-1])
        if (items.length === 0) return [[]]
        // what the store holds agrees: the control row at the last group applied, each item's block written
        const mark = await store.lastApplied()
        const { image } = await store.readImage(VOLUME.name)
        const lastSeq = applied[applied.length - 1]
        return [
          items.map((i) =>
            mark?.groupSeq === lastSeq && image.subarray(i * BLOCK, (i + 1) * BLOCK).equals(block(i)) ? i : -1,
          ),
        ]
      },
      setAside: () => Promise.resolve([]),
      async cleanup() {
        await pool.end()
        await journal.cleanup()
        await admin.disconnect()
        const client = new pg.Client({ connectionString: databaseUrl })
        await client.connect()
        try {
          await client.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`)
        } finally {
          await client.end()
        }
      },
    }
  },
})
