/**
 * `xrc failover`: the primary site is lost; the secondary site takes over.
 *
 *   1. refuse while the old primary answers (unless --force), or while the
 *      secondary has journaled groups left to apply (waited for first);
 *   2. fence the secondary (applier/store/fence.ts): no group of the old
 *      session lands on it after this; an apply in flight commits first;
 *   3. roll back an unfinished resync (its saved versions: the last
 *      consistent image), so the image is consistent at some T;
 *   4. count the acknowledged writes after T the old site took with it
 *      (updates topic past the applied marker, and its sidefiles if its
 *      files can be read), as far as they are knowable;
 *   5. materialise the image as the volume files of a new session at this
 *      site, seed the new session's secondary with the same image, and
 *      write its config: `xrc primary|mover|applier --config <it>` start
 *      it; its writes are tracked (sidefile, segment write times, its own
 *      journal) so `xrc failback` can take them home.
 *
 * Every step is safe to repeat: a finished failover is recorded in the new
 * session's folder (failover.json) and a second run reports it unchanged.
 */
import { mkdir, open, readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  createBlockStore,
  fenceSecondary,
  readFence,
  rollbackSecondary,
  storeTables,
  seedImage,
  type RollbackResult,
} from '../../applier/index.js'
import { loadConfig, defaultSchemaName, type Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import { createKafkaClient } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import { readStateFile, syncDir, writeStateFile } from '../../lib/stateFile.js'
import { sleep } from '../../lib/sleep.js'
import { primaryDir, volumePath } from '../../producer/index.js'
import { writesAfter, type LostWrites } from './lostWrites.js'
import { movedSessionSettings } from './sessionSettings.js'
import { oldSiteWrites, readJournalAfter, updatesWritesAfter } from './siteWrites.js'
import { failoverRefusal } from './takeoverChecks.js'
import { primaryAnswers } from './primaryProbe.js'

export interface FailoverOptions {
  /** The lost session's config, and the file it came from (the new config is made from it). */
  config: Config
  configFile: string
  pool: Pool
  logger: Logger
  newSession: string
  /** Where the new session's primary keeps its volumes (default: the old session's data folder). */
  dataDir?: string
  /** The new session's secondary schema (default: xrc_ + the new session's name). */
  schema?: string
  /** The old primary's HTTP API, probed to be sure the site is down. */
  primaryUrl: string
  force: boolean
  /** How long to wait for the secondary to apply the groups journaled already, ms. */
  drainMs: number
  onProgress?: (line: string) => void
}

/** What a failover did (and what failover.json records). */
export interface FailoverReport {
  session: string
  /** The lost session's config file (absolute): where its site keeps its volumes, for xrc failback. */
  fromConfigFile: string
  newSession: string
  /** The image the new primary holds: the secondary's last consistent group. */
  consistencyTime: number | undefined
  groupSeq: number
  fencedAt: string
  /** An unfinished resync rolled back to reach that image (null: the image was consistent). */
  rolledBack: Pick<RollbackResult, 'groupsUndone' | 'blocksRestored'> | null
  /** Groups journaled after T and never applied (given up with --force, or undone by the rollback). */
  groupsNotApplied: number
  /**
   * Acknowledged writes after T, lost with the old site; `complete` false (and `uncounted` says why) when
   * its sidefiles could not be read, or it was suspended or resyncing: then the count is a lower bound.
   */
  lostWrites: LostWrites & { complete: boolean; sources: string[]; uncounted?: string }
  volumes: { name: string; blocks: number; path: string }[]
  bytes: number
  schema: string
  blocksSeeded: number
  configFile: string
  /** True when an earlier run had done it all: nothing was changed. */
  alreadyDone: boolean
}

/** The record of a finished failover, in the new session's folder. */
export function failoverRecordPath(dataDir: string, newSession: string): string {
  return join(dataDir, newSession, 'failover.json')
}

export async function runFailover(o: FailoverOptions): Promise<FailoverReport> {
  const { config } = o
  const session = config.session.name
  const dataDir = o.dataDir ?? config.session.dataDir
  const schema = o.schema ?? defaultSchemaName(o.newSession)
  const recordPath = failoverRecordPath(dataDir, o.newSession)
  const done = await readStateFile<FailoverReport | undefined>(recordPath, validFailoverRecord, () => undefined)
  if (done !== undefined) return { ...done, alreadyDone: true }
  if (schema === config.applier.schema)
    throw new XrcError('XRC_FAILOVER_REFUSED', { reason: 'sameSession', session: schema })
  // the new session's settings must load (its name, folder, schema) before anything is fenced
  const raw = JSON.parse(await readFile(o.configFile, 'utf8')) as unknown
  const newSettings = movedSessionSettings(raw, { name: o.newSession, dataDir, schema })
  loadConfig({ overrides: newSettings })

  const oldTables = storeTables(config.applier.schema)
  const store = createBlockStore({
    pool: o.pool,
    schema: config.applier.schema,
    session,
    blockSize: config.session.blockSize,
    volumes: volumesOf(config),
    segmentBlocks: config.session.segmentBlocks,
    logger: o.logger,
  })
  const kafka = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: `${config.kafka.clientId}-failover`,
    logger: o.logger,
  })
  const fencedBy = await readFence(o.pool, oldTables, session)
  const answers = await primaryAnswers(o.primaryUrl)
  const targetDir = primaryDir(dataDir, o.newSession)
  const facts = {
    session,
    newSession: o.newSession,
    primaryUrl: o.primaryUrl,
    primaryAnswers: answers,
    fencedBy,
    groupsNotApplied: 0,
    waitedMs: 0,
    targetInUse: await holdsControllerState(targetDir),
    targetDir,
    force: o.force,
  }
  // the cheap refusals first: no waiting for groups when the site is plainly up
  const early = failoverRefusal(facts)
  if (early !== undefined) throw early
  if (fencedBy === undefined) {
    const started = Date.now()
    for (;;) {
      const mark = await store.lastApplied()
      const { groupsAfter } = await readJournalAfter(kafka, session, mark?.journalOffset, o.logger)
      facts.groupsNotApplied = groupsAfter
      facts.waitedMs = Date.now() - started
      if (groupsAfter === 0 || facts.waitedMs >= o.drainMs) break
      o.onProgress?.(`failover: the secondary has ${groupsAfter} journaled group(s) to apply; waiting`)
      await sleep(500)
    }
    const refusal = failoverRefusal(facts)
    if (refusal !== undefined) throw refusal
  }

  o.onProgress?.(`failover: fencing the secondary of ${session} for ${o.newSession}`)
  const fence = await fenceSecondary(o.pool, oldTables, session, o.newSession)
  let rolledBack: FailoverReport['rolledBack'] = null
  const image = await store.readConsistency()
  if (image.state === 'inconsistent') {
    o.onProgress?.('failover: rolling back the unfinished resync to the last consistent image')
    const r = await rollbackSecondary(o.pool, oldTables, config.applier.schema, session)
    rolledBack = { groupsUndone: r.groupsUndone, blocksRestored: r.blocksRestored }
  }
  const asOf = await store.lastApplied()
  const t = asOf?.groupTime ?? 0

  o.onProgress?.(`failover: counting the acknowledged writes after T=${t} the old site took with it`)
  const journal = await readJournalAfter(kafka, session, asOf?.journalOffset, o.logger)
  const fromTopic = await updatesWritesAfter(kafka, config, journal.resumeOffsets, t, o.logger)
  const oldSite = await oldSiteWrites(config)
  const lost = writesAfter([...fromTopic, ...(oldSite?.writes ?? [])], t)

  const volumes = []
  let bytes = 0
  await mkdir(targetDir, { recursive: true })
  for (const v of volumesOf(config)) {
    o.onProgress?.(`failover: writing volume ${v.name} (${v.blocks} blocks) as of T=${t}`)
    const path = volumePath(dataDir, o.newSession, v.name)
    const exported = await store.exportVolume(v.name, path)
    if ((exported.asOf?.groupSeq ?? 0) !== (asOf?.groupSeq ?? 0))
      throw new XrcError('XRC_FAILOVER_REFUSED', {
        reason: 'imageMoved',
        session,
        volume: v.name,
        expected: asOf?.groupSeq ?? 0,
        found: exported.asOf?.groupSeq ?? 0,
      })
    await syncFile(path) // durable before failover.json says the failover is done
    volumes.push({ name: v.name, blocks: v.blocks, path })
    bytes += exported.bytes
  }
  await syncDir(targetDir)

  o.onProgress?.(`failover: seeding the secondary of ${o.newSession} (schema ${schema}) with the same image`)
  const newStore = createBlockStore({
    pool: o.pool,
    schema,
    session: o.newSession,
    blockSize: config.session.blockSize,
    volumes: volumesOf(config),
    segmentBlocks: config.session.segmentBlocks,
    logger: o.logger,
  })
  await newStore.init()
  const seeded = await seedImage(o.pool, oldTables, storeTables(schema), o.newSession)

  const configFile = join(dataDir, o.newSession, 'xrc-config.json')
  await writeStateFile(configFile, newSettings)

  const report: FailoverReport = {
    session,
    fromConfigFile: resolve(o.configFile),
    newSession: o.newSession,
    consistencyTime: asOf?.groupTime,
    groupSeq: asOf?.groupSeq ?? 0,
    fencedAt: fence.fencedAt,
    rolledBack,
    groupsNotApplied: journal.groupsAfter,
    lostWrites: {
      ...lost,
      complete: oldSite !== undefined && oldSite.notDuplex.length === 0,
      sources: oldSite !== undefined ? ['updates topic', 'sidefiles'] : ['updates topic'],
      ...(oldSite === undefined ? { uncounted: "the old site's sidefiles could not be read" } : {}),
      ...(oldSite !== undefined && oldSite.notDuplex.length > 0
        ? {
            uncounted:
              `controller(s) ${oldSite.notDuplex.map((c) => `${c.controller} (${c.state})`).join(', ')} were not ` +
              'mirroring write by write: their writes since the suspension were only marked for resync',
          }
        : {}),
    },
    volumes,
    bytes,
    schema,
    blocksSeeded: seeded.blocks,
    configFile,
    alreadyDone: false,
  }
  await writeStateFile(recordPath, report)
  return report
}

function volumesOf(config: Config): { name: string; blocks: number }[] {
  return config.session.controllers.flatMap((c) => c.volumes.map((v) => ({ name: v.name, blocks: v.blocks })))
}

/** fdatasync of a written file. */
async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+')
  try {
    await fh.datasync()
  } finally {
    await fh.close()
  }
}

/** Whether a primary ran in `dir`: it holds a controller's folder (sidefile, state). */
async function holdsControllerState(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).some((n) => n.startsWith('controller-'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** Validates a failover.json as read back. */
export function validFailoverRecord(parsed: unknown): FailoverReport {
  const r = parsed as Partial<FailoverReport>
  if (
    typeof r.newSession !== 'string' ||
    typeof r.configFile !== 'string' ||
    typeof r.fromConfigFile !== 'string' ||
    !Array.isArray(r.volumes)
  )
    throw new Error('not a failover record (newSession, configFile, fromConfigFile, volumes)')
  return r as FailoverReport
}
