/**
 * Replay from the journal on the real stack: a rebuild from offset 0 into an
 * empty schema is byte-identical to the secondary the applier kept, and a
 * replay stopped at a past consistency time T or group N is the image as of
 * T or N.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import {
  createApplier,
  createBlockStore,
  createSnapshots,
  replay,
  type BlockStore,
  type ReplayProgress,
} from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import {
  createTestJournal,
  modelImage,
  randomGroups,
  testConfig,
  toRecords,
  TEST_BLOCK_SIZE,
  TEST_VOLUMES,
  type TestJournal,
} from '../kit/journal.js'
import { createTestSchema, stackInfo, testKafka } from '../kit/servers.js'

let kafka: KafkaClient
let admin: KafkaAdmin
let pool: Pool
let dir: string
let journal: TestJournal
let groups: ConsistencyGroup[]
const cleanups: (() => Promise<void>)[] = []

/** A fresh empty schema for one replay. */
async function freshSchema(): Promise<string> {
  const pg = await createTestSchema('xrc_replay')
  cleanups.push(pg.drop)
  return pg.schema
}

function configFor(schema: string): Config {
  return testConfig(journal.session, schema)
}

function storeIn(schema: string): BlockStore {
  return createBlockStore({
    pool,
    schema,
    session: journal.session,
    blockSize: TEST_BLOCK_SIZE,
    volumes: TEST_VOLUMES,
    logger: silentLogger,
  })
}

async function expectImages(store: BlockStore, uptoSeq?: number): Promise<void> {
  for (const v of TEST_VOLUMES) {
    const { image } = await store.readImage(v.name)
    expect(image.equals(modelImage(groups, v.name, uptoSeq)), `volume ${v.name} as of group ${uptoSeq ?? 'last'}`).toBe(
      true,
    )
  }
}

beforeAll(async () => {
  kafka = testKafka()
  admin = kafka.admin()
  await admin.connect()
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 8 })
  dir = await mkdtemp(join(tmpdir(), 'xrc-replay-'))
  journal = await createTestJournal(kafka, admin)
  cleanups.push(() => journal.cleanup())
  // 12 groups, some in parts, with an aborted transaction in the middle
  groups = randomGroups(journal.session, 12, { maxUpdates: 25 })
  for (const [i, g] of groups.entries()) {
    if (i === 5)
      await journal.write(
        toRecords({ ...g, updates: randomGroups(journal.session, 1, { maxUpdates: 25 })[0]?.updates ?? [] }, 2),
        { abort: true },
      )
    await journal.write(toRecords(g, 1 + (i % 3)))
  }
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await admin.disconnect()
  await pool.end()
  await rm(dir, { recursive: true, force: true })
})

describe('replay', () => {
  it('rebuilds from offset 0 into an empty schema: byte-identical to the applied secondary', async () => {
    // the secondary the applier keeps
    const appliedSchema = await freshSchema()
    const applier = createApplier({ config: configFor(appliedSchema), logger: silentLogger, kafka, pool })
    cleanups.push(() => applier.stop())
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    await applier.stop()

    const rebuilt = await freshSchema()
    const progress: ReplayProgress[] = []
    const summary = await replay({
      config: configFor(rebuilt),
      logger: silentLogger,
      kafka,
      pool,
      onProgress: (p) => progress.push(p),
    })
    expect(summary).toMatchObject({
      groups: 12,
      lastGroupSeq: 12,
      lastGroupTime: groups[11]?.groupTime,
      blocks: groups.reduce((n, g) => n + g.updates.length, 0),
      stoppedBy: 'journal-end',
    })
    expect(progress.map((p) => p.groups)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    expect(progress.every((p) => p.journalEnd === summary.journalEnd && p.journalOffset < p.journalEnd)).toBe(true)

    await expectImages(storeIn(rebuilt))
    for (const v of TEST_VOLUMES) {
      const a = join(dir, `applied-${v.name}.img`)
      const b = join(dir, `replayed-${v.name}.img`)
      await storeIn(appliedSchema).exportVolume(v.name, a)
      await storeIn(rebuilt).exportVolume(v.name, b)
      expect((await readFile(a)).equals(await readFile(b)), `exports of ${v.name}`).toBe(true)
    }
    const history = await pool.query<{ n: bigint }>(
      `SELECT count(DISTINCT group_seq) AS n FROM "${rebuilt}".applied_groups`,
    )
    expect(Number(history.rows[0]?.n)).toBe(12)
  })

  it('stops at a past consistency time T: the image as of T', async () => {
    const g5 = groups[4] as ConsistencyGroup
    const g6 = groups[5] as ConsistencyGroup
    // T exactly at group 5
    const atGroup = await freshSchema()
    expect(
      await replay({ config: configFor(atGroup), logger: silentLogger, kafka, pool, stopAtTime: g5.groupTime }),
    ).toMatchObject({ groups: 5, lastGroupTime: g5.groupTime, stoppedBy: 'stop-time' })
    await expectImages(storeIn(atGroup), 5)
    // T between groups 5 and 6: still group 5 (group 6 is after T)
    const between = await freshSchema()
    expect(
      await replay({ config: configFor(between), logger: silentLogger, kafka, pool, stopAtTime: g6.groupTime - 1 }),
    ).toMatchObject({ groups: 5, lastGroupSeq: 5, stoppedBy: 'stop-time' })
    await expectImages(storeIn(between), 5)
    expect(await storeIn(between).lastApplied()).toMatchObject({ groupSeq: 5, groupTime: g5.groupTime })
  })

  it('stops at a past group N: the image as of N; with a time too, at whichever comes first', async () => {
    const toGroup = await freshSchema()
    expect(
      await replay({ config: configFor(toGroup), logger: silentLogger, kafka, pool, stopAtGroup: 7 }),
    ).toMatchObject({ groups: 7, lastGroupSeq: 7, lastGroupTime: groups[6]?.groupTime, stoppedBy: 'stop-time' })
    await expectImages(storeIn(toGroup), 7)
    const both = await freshSchema()
    const t3 = (groups[2] as ConsistencyGroup).groupTime
    expect(
      await replay({ config: configFor(both), logger: silentLogger, kafka, pool, stopAtGroup: 7, stopAtTime: t3 }),
    ).toMatchObject({ groups: 3, lastGroupSeq: 3, stoppedBy: 'stop-time' })
    await expectImages(storeIn(both), 3)
  })

  it('starts from a snapshot seeded into the target: only the groups after it are applied, the image as of N', async () => {
    const live = await freshSchema()
    const upTo4 = createApplier({ config: configFor(live), logger: silentLogger, kafka, pool, stopAtGroup: 4 })
    cleanups.push(() => upTo4.stop())
    await upTo4.start()
    await upTo4.done
    const snapshots = createSnapshots({ pool, schema: live, session: journal.session })
    expect(await snapshots.create({ name: 'g4' })).toMatchObject({ state: 'active', groupSeq: 4 })
    const rest = createApplier({ config: configFor(live), logger: silentLogger, kafka, pool })
    cleanups.push(() => rest.stop())
    await rest.start()
    expect(await rest.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    await rest.stop()

    const seed = (schema: string): Promise<void> => snapshots.copyInto('g4', schema).then(() => undefined)
    const recovered = await freshSchema()
    const summary = await replay({
      config: configFor(recovered),
      logger: silentLogger,
      kafka,
      pool,
      seed,
      stopAtGroup: 9,
    })
    expect(summary).toMatchObject({ baseGroupSeq: 4, groups: 5, lastGroupSeq: 9, stoppedBy: 'stop-time' })
    await expectImages(storeIn(recovered), 9)
    // at the snapshot's own group nothing is read from the journal
    const atSnapshot = await freshSchema()
    expect(
      await replay({ config: configFor(atSnapshot), logger: silentLogger, kafka, pool, seed, stopAtGroup: 4 }),
    ).toMatchObject({ baseGroupSeq: 4, groups: 0, lastGroupSeq: 4 })
    await expectImages(storeIn(atSnapshot), 4)
  })

  it('replays everything when T is past the journal end', async () => {
    const schema = await freshSchema()
    const summary = await replay({
      config: configFor(schema),
      logger: silentLogger,
      kafka,
      pool,
      stopAtTime: (groups[11]?.groupTime ?? 0) + 1_000_000,
    })
    expect(summary).toMatchObject({ groups: 12, stoppedBy: 'journal-end' })
    await expectImages(storeIn(schema))
  })

  it('refuses a schema that already holds groups', async () => {
    const schema = await freshSchema()
    await replay({
      config: configFor(schema),
      logger: silentLogger,
      kafka,
      pool,
      stopAtTime: groups[1]?.groupTime ?? 0,
    })
    await expect(replay({ config: configFor(schema), logger: silentLogger, kafka, pool })).rejects.toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/already holds group 2/),
    })
  })
})
