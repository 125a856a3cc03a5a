/**
 * `xrc failback`: the original site is back with its volumes as they were
 * when it went down; the session running at the secondary site since the
 * failover (the takeover session) hands production back to it.
 *
 *   1. refuse unless the running session came from a failover, the original
 *      primary is down (its sidefile would redo old writes), and every one
 *      of its volume files is there;
 *   2. online pass(es), writes going on at the takeover primary: per
 *      segment its code (GET /v1/volumes/:v/codes) against the code of the
 *      original site's file; only differing segments are copied, those
 *      written in the last moments left for the final pass
 *      (segmentCopyPlan.ts);
 *   3. quiesce the takeover primary (POST /v1/quiesce: writes refused, those
 *      in progress finished; time Tq); final pass over every segment, then a
 *      check that every code agrees: the original site's volumes are now
 *      the takeover primary's image as of Tq;
 *   4. wait for the takeover session's secondary to pass Tq, fence it;
 *   5. start the swap back: the original site's volumes become the volume
 *      files of a new session there (renamed, same file system), its
 *      secondary seeded with the fenced image (the same bytes), its config
 *      written from the original session's. The operator stops the takeover
 *      session's services and starts the new session's.
 *
 * A failure after the quiesce takes writes again at the takeover primary
 * before it is reported. A finished failback is recorded (failback.json in
 * the new session's folder); a second run reports it and changes nothing.
 */
import { access, mkdir, readdir, readFile, rename } from 'node:fs/promises'
import { constants } from 'node:fs'
import { dirname, join } from 'node:path'
import { createBlockStore, fenceSecondary, readFence, seedImage, storeTables } from '../../applier/index.js'
import { defaultSchemaName, loadConfig, type Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { segmentBlockRange, segmentCode, segmentCount } from '../../lib/segmentCodes.js'
import { readStateFile, syncDir, writeStateFile } from '../../lib/stateFile.js'
import { openVolumeFile, primaryDir, volumePath, type VolumeFile } from '../../producer/index.js'
import type { PrimaryClient } from '../primaryClient.js'
import { primaryAnswers } from './primaryProbe.js'
import { failoverRecordPath, validFailoverRecord, type FailoverReport } from './runFailover.js'
import { copyFigures, planSegmentCopy, type CopyFigures, type SourceCode } from './segmentCopyPlan.js'
import { movedSessionSettings } from './sessionSettings.js'
import { failbackRefusal } from './takeoverChecks.js'

export interface FailbackOptions {
  /** The takeover session's config (the session xrc failover made). */
  config: Config
  pool: Pool
  logger: Logger
  newSession: string
  /** The takeover primary's API (the source of the copy) and a client of it. */
  primary: PrimaryClient
  quiesce: () => Promise<{ time: number }>
  unquiesce: () => Promise<void>
  /** The original site's primary API, probed to be sure it is down; undefined when it cannot be known. */
  originalPrimaryUrl: string | undefined
  /** The new session's secondary schema (default: xrc_ + its name). */
  schema?: string
  /** Passes while writes go on, before the quiesce. */
  onlinePasses: number
  /** A differing segment written within this long is left for the final pass, ms. */
  hotMs: number
  /** Longest wait for the takeover secondary to pass the quiesce time, ms. */
  catchUpMs: number
  onProgress?: (p: FailbackProgress) => void
  onNote?: (line: string) => void
}

export interface FailbackProgress {
  phase: 'online' | 'final' | 'check'
  segments: number
  done: number
  copied: number
  bytesCopied: number
}

/** One pass over every segment. */
export interface PassReport {
  phase: 'online' | 'final' | 'check'
  compared: number
  copied: number
  deferred: number
  bytesCopied: number
}

export interface FailbackReport extends CopyFigures {
  /** The takeover session, the original one, and the new session at the original site. */
  session: string
  originalSession: string
  newSession: string
  /** The quiesce time: the new session's volumes are the takeover primary's image as of it. */
  consistencyTime: number
  /** The takeover secondary's group the new session's secondary was seeded from. */
  groupSeq: number
  passes: PassReport[]
  volumes: { name: string; blocks: number; path: string }[]
  schema: string
  blocksSeeded: number
  configFile: string
  alreadyDone: boolean
}

/** The record of a finished failback, in the new session's folder at the original site. */
export function failbackRecordPath(dataDir: string, newSession: string): string {
  return join(dataDir, newSession, 'failback.json')
}

const CODES_PAGE = 64

export async function runFailback(o: FailbackOptions): Promise<FailbackReport> {
  const { config } = o
  const session = config.session.name
  const recordOfFailover = failoverRecordPath(config.session.dataDir, session)
  const failover = await readStateFile<FailoverReport | undefined>(recordOfFailover, validFailoverRecord, () => {
    return undefined
  })
  if (failover === undefined)
    throw new XrcError('XRC_FAILOVER_REFUSED', { reason: 'notFailedOver', session, file: recordOfFailover })
  const original = loadConfig({ file: failover.fromConfigFile })
  const dataDir = original.session.dataDir
  const recordPath = failbackRecordPath(dataDir, o.newSession)
  const done = await readStateFile<FailbackReport | undefined>(recordPath, validRecord, () => undefined)
  if (done !== undefined) return { ...done, alreadyDone: true }
  const schema = o.schema ?? defaultSchemaName(o.newSession)
  const raw = JSON.parse(await readFile(failover.fromConfigFile, 'utf8')) as unknown
  const newSettings = movedSessionSettings(raw, { name: o.newSession, dataDir, schema })
  loadConfig({ overrides: newSettings }) // refused now, not after the swap

  const volumes = config.session.controllers.flatMap((c) => c.volumes.map((v) => ({ name: v.name, blocks: v.blocks })))
  // a run cut short after moving some files finds them in the new session's folder
  const files = await Promise.all(
    volumes.map(async (v) => {
      const from = volumePath(dataDir, original.session.name, v.name)
      const to = volumePath(dataDir, o.newSession, v.name)
      return { volume: v, from, to, at: (await exists(from)) ? from : (await exists(to)) ? to : undefined }
    }),
  )
  const tables = storeTables(config.applier.schema)
  const targetDir = primaryDir(dataDir, o.newSession)
  // fenced for this failback already: an earlier run passed the point of no return (see below)
  const fencedBy = await readFence(o.pool, tables, session)
  const pastNoReturn = fencedBy === o.newSession
  const refusal = failbackRefusal({
    session,
    failoverRecord: recordOfFailover,
    failedOver: true,
    originalSession: original.session.name,
    originalPrimaryUrl: o.originalPrimaryUrl,
    originalPrimaryAnswers: o.originalPrimaryUrl !== undefined && (await primaryAnswers(o.originalPrimaryUrl)),
    newSession: o.newSession,
    fencedBy,
    missingVolumes: files.filter((f) => f.at === undefined).map((f) => ({ volume: f.volume.name, file: f.from })),
    targetInUse: (await readdir(targetDir).catch(() => [])).some((n) => n.startsWith('controller-')),
    targetDir,
  })
  if (refusal !== undefined) throw refusal

  const segmentBlocks = config.session.segmentBlocks
  const segments = volumes.reduce((n, v) => n + segmentCount(v.blocks, segmentBlocks), 0)
  const opened = await Promise.all(
    files.map((f) =>
      openVolumeFile({
        path: f.at as string,
        name: f.volume.name,
        blocks: f.volume.blocks,
        blockSize: config.session.blockSize,
      }),
    ),
  )
  const passes: PassReport[] = []
  const pass = async (phase: PassReport['phase'], hotMs: number | undefined): Promise<PassReport> => {
    const report: PassReport = { phase, compared: 0, copied: 0, deferred: 0, bytesCopied: 0 }
    for (const file of opened) {
      const hotSince = hotMs === undefined ? undefined : Date.now() * 1000 - hotMs * 1000
      const plan = await copyVolume(o.primary, file, segmentBlocks, hotSince, phase !== 'check')
      report.compared += plan.compared
      report.copied += plan.copied
      report.deferred += plan.deferred
      report.bytesCopied += plan.bytesCopied
      o.onProgress?.({ phase, segments, done: report.compared, copied: report.copied, bytesCopied: report.bytesCopied })
    }
    passes.push(report)
    return report
  }

  const store = createBlockStore({
    pool: o.pool,
    schema: config.applier.schema,
    session,
    blockSize: config.session.blockSize,
    volumes,
    segmentBlocks,
    logger: o.logger,
  })
  // until the fence below (the point of no return), a failure gives production back to the takeover primary
  let quiesced: { time: number } | undefined
  try {
    for (let i = 0; i < o.onlinePasses; i++) await pass('online', o.hotMs)
    o.onNote?.(`failback: quiescing host writes at the primary of ${session} (${o.primary.url})`)
    quiesced = await o.quiesce()
    await pass('final', undefined)
    const check = await pass('check', undefined)
    if (check.copied > 0)
      throw new XrcError('XRC_FAILOVER_REFUSED', {
        reason: 'takeoverStillWriting',
        session,
        url: o.primary.url,
        detail: `${check.copied} segment(s) differ after the final copy`,
      })
    for (const f of opened) await f.sync()
    const t = quiesced.time
    o.onNote?.(`failback: waiting for the secondary of ${session} to pass the quiesce time ${t}`)
    // past the fence the secondary applies nothing more: it passed the first run's quiesce time before it
    if (!pastNoReturn)
      await waitFor(
        'the takeover secondary to pass the quiesce time',
        async () => ((await store.lastApplied())?.groupTime ?? 0) >= t || undefined,
        { timeoutMs: o.catchUpMs, intervalMs: 200 },
      )
  } catch (err) {
    // once fenced, the takeover session is retired: its writes would no longer be mirrored
    if (quiesced !== undefined && !pastNoReturn)
      await o
        .unquiesce()
        .catch((e: unknown) =>
          o.logger.error({ err: e, url: o.primary.url }, 'taking writes again failed: POST /v1/unquiesce by hand'),
        )
    throw err
  } finally {
    for (const f of opened) await f.close()
  }
  const t = quiesced.time
  const fence = await fenceSecondary(o.pool, tables, session, o.newSession)

  await mkdir(targetDir, { recursive: true })
  for (const f of files) if (f.at === f.from) await rename(f.from, f.to)
  await syncDir(targetDir)
  await syncDir(dirname(files[0]?.from ?? targetDir))

  o.onNote?.(`failback: seeding the secondary of ${o.newSession} (schema ${schema}) with the image as of ${t}`)
  const newStore = createBlockStore({
    pool: o.pool,
    schema,
    session: o.newSession,
    blockSize: config.session.blockSize,
    volumes,
    segmentBlocks,
    logger: o.logger,
  })
  await newStore.init()
  const seeded = await seedImage(o.pool, tables, storeTables(schema), o.newSession)
  const configFile = join(dataDir, o.newSession, 'xrc-config.json')
  await writeStateFile(configFile, newSettings)

  const copied = passes.filter((p) => p.phase !== 'check')
  const report: FailbackReport = {
    session,
    originalSession: original.session.name,
    newSession: o.newSession,
    consistencyTime: t,
    groupSeq: fence.asOf?.groupSeq ?? 0,
    passes,
    ...copyFigures(
      segments,
      copied.reduce((n, p) => n + p.copied, 0),
      copied.reduce((n, p) => n + p.bytesCopied, 0),
      volumes.reduce((n, v) => n + v.blocks * config.session.blockSize, 0),
    ),
    volumes: files.map((f) => ({ name: f.volume.name, blocks: f.volume.blocks, path: f.to })),
    schema,
    blocksSeeded: seeded.blocks,
    configFile,
    alreadyDone: false,
  }
  await writeStateFile(recordPath, report)
  return report
}

/** Compares one volume's codes page by page and copies the differing segments (when `copy`). */
async function copyVolume(
  primary: PrimaryClient,
  file: VolumeFile,
  segmentBlocks: number,
  hotSince: number | undefined,
  copy: boolean,
): Promise<Omit<PassReport, 'phase'>> {
  const out = { compared: 0, copied: 0, deferred: 0, bytesCopied: 0 }
  const n = segmentCount(file.blocks, segmentBlocks)
  for (let from = 0; from < n;) {
    const page = await primary.segmentCodes(file.name, from, CODES_PAGE)
    if (page.segmentBlocks !== segmentBlocks)
      throw new XrcError('XRC_CONFIG_INVALID', {
        reason: 'issues',
        issues: `session.segmentBlocks is ${segmentBlocks} here but ${page.segmentBlocks} at ${primary.url}`,
      })
    const source: SourceCode[] = page.codes
    const target = new Map<number, string>()
    for (const s of source) {
      const { first, count } = segmentBlockRange(s.segment, segmentBlocks, file.blocks)
      target.set(s.segment, segmentCode(await file.read(first, count)))
    }
    const plan = planSegmentCopy(source, target, hotSince)
    out.compared += source.length
    out.deferred += plan.deferred.length
    for (const segment of plan.copy) {
      out.copied++
      if (!copy) continue
      const { first, count } = segmentBlockRange(segment, segmentBlocks, file.blocks)
      const data = await primary.read(file.name, first, count)
      await file.write(first, data)
      out.bytesCopied += data.length
    }
    if (page.next === undefined || source.length === 0) break
    from = page.next
  }
  return out
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK)
    return true
  } catch {
    return false
  }
}

function validRecord(parsed: unknown): FailbackReport {
  const r = parsed as Partial<FailbackReport>
  if (typeof r.newSession !== 'string' || typeof r.configFile !== 'string' || !Array.isArray(r.passes))
    throw new Error('not a failback record (newSession, configFile, passes)')
  return r as FailbackReport
}
