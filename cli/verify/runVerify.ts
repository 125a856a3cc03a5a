/**
 * `xrc verify`: compares the primary and the secondary online, by segment
 * code, while both run and writes go on. Per page of segments it takes the
 * secondary's codes in one snapshot (computed by PostgreSQL from its blocks,
 * as of the applied group with time T), then the primary's codes with each
 * segment's last write time: a segment not written since T must agree
 * (compareCodes.ts); one written since is checked again once the secondary
 * has applied past that write, at most `retries` times, then reported as
 * unverifiable for now (writes keep landing there), not as a mismatch.
 */
import { createSegmentCodes, type SegmentCodes } from '../../applier/index.js'
import { segmentCount } from '../../lib/segmentCodes.js'
import { sleep } from '../../lib/sleep.js'
import type { PrimaryClient } from '../primaryClient.js'
import type { Pool } from '../../lib/postgres.js'
import { compareSegment, segmentReport, type SegmentReport } from './compareCodes.js'

export interface VerifyOptions {
  pool: Pool
  schema: string
  blockSize: number
  segmentBlocks: number
  primary: PrimaryClient
  volumes: readonly { name: string; blocks: number }[]
  /** Segment bytes compared per second at most; 0 = no bound. */
  bytesPerSecond: number
  /** Times a segment written since T is checked again. */
  retries: number
  /** How long one re-check waits for the secondary to pass the segment's last write, ms. */
  catchUpMs: number
  onProgress?: (p: VerifyProgress) => void
}

export interface VerifyProgress {
  segments: number
  done: number
  bytes: number
  elapsedMs: number
  mismatches: number
}

export interface VerifyReport {
  /** The consistency time of the first comparison (µs). */
  consistencyTime: number | undefined
  segments: number
  matched: number
  mismatches: SegmentReport[]
  unverifiable: SegmentReport[]
  bytes: number
  elapsedMs: number
}

/** Segments compared per round trip. */
const PAGE = 16

interface Pending {
  volume: { name: string; blocks: number }
  segment: number
  lastWrite: number
}

export async function runVerify(o: VerifyOptions): Promise<VerifyReport> {
  const codes = createSegmentCodes({
    pool: o.pool,
    schema: o.schema,
    segmentBlocks: o.segmentBlocks,
    blockSize: o.blockSize,
  })
  const started = Date.now()
  const segments = o.volumes.reduce((n, v) => n + segmentCount(v.blocks, o.segmentBlocks), 0)
  const report: VerifyReport = {
    consistencyTime: undefined,
    segments,
    matched: 0,
    mismatches: [],
    unverifiable: [],
    bytes: 0,
    elapsedMs: 0,
  }
  const segmentBytes = o.segmentBlocks * o.blockSize
  let pending: Pending[] = []
  const tick = (): void =>
    o.onProgress?.({
      segments,
      done: report.matched + report.mismatches.length + report.unverifiable.length,
      bytes: report.bytes,
      elapsedMs: Date.now() - started,
      mismatches: report.mismatches.length,
    })
  const compare = async (volume: Pending['volume'], segs: number[]): Promise<Pending[]> => {
    const deferred = await comparePage(o, codes, volume, segs, report)
    report.bytes += segs.length * segmentBytes
    tick()
    if (o.bytesPerSecond > 0)
      await sleep(Math.max(0, (report.bytes / o.bytesPerSecond) * 1000 - (Date.now() - started)))
    return deferred
  }
  for (const volume of o.volumes) {
    const n = segmentCount(volume.blocks, o.segmentBlocks)
    for (let from = 0; from < n; from += PAGE)
      pending.push(...(await compare(volume, range(from, Math.min(PAGE, n - from)))))
  }
  for (let round = 0; round < o.retries && pending.length > 0; round++) {
    await waitApplied(codes, o.volumes[0]?.name as string, Math.max(...pending.map((p) => p.lastWrite)), o.catchUpMs)
    const again: Pending[] = []
    for (const [volume, segs] of byVolume(pending)) again.push(...(await compare(volume, segs)))
    pending = again
  }
  report.unverifiable = pending.map((p) => segmentReport(p.volume, p.segment, o.segmentBlocks))
  report.elapsedMs = Date.now() - started
  tick()
  return report
}

/** Compares some segments of a volume; returns those written since the secondary's T. */
async function comparePage(
  o: VerifyOptions,
  codes: SegmentCodes,
  volume: Pending['volume'],
  segs: readonly number[],
  report: VerifyReport,
): Promise<Pending[]> {
  const secondary = await codes.read(volume.name, segs)
  const appliedTime = secondary.asOf?.groupTime ?? 0
  report.consistencyTime ??= secondary.asOf?.groupTime
  const primary = new Map<number, { code: string; lastWrite: number }>()
  for (let i = 0; i < segs.length;) {
    const page = await o.primary.segmentCodes(
      volume.name,
      segs[i] as number,
      1 + (segs[segs.length - 1] as number) - (segs[i] as number),
    )
    for (const c of page.codes) primary.set(c.segment, c)
    i = segs.findIndex((s) => !primary.has(s))
    if (i < 0 || page.codes.length === 0) break
  }
  const deferred: Pending[] = []
  for (const sec of secondary.codes) {
    const prim = primary.get(sec.segment)
    if (prim === undefined) continue
    const verdict = compareSegment(sec, prim, appliedTime)
    if (verdict === 'match') report.matched++
    else if (verdict === 'written') deferred.push({ volume, segment: sec.segment, lastWrite: prim.lastWrite })
    else report.mismatches.push(segmentReport(volume, sec.segment, o.segmentBlocks, verdict.mismatch))
  }
  return deferred
}

/** Waits until the secondary has applied a group at or past `time`, for at most `timeoutMs`. */
async function waitApplied(codes: SegmentCodes, volume: string, time: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const { asOf } = await codes.read(volume, [])
    if ((asOf?.groupTime ?? 0) >= time) return
    await sleep(100)
  }
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i)
}

function byVolume(pending: readonly Pending[]): Map<Pending['volume'], number[]> {
  const out = new Map<Pending['volume'], number[]>()
  for (const p of pending) out.set(p.volume, [...(out.get(p.volume) ?? []), p.segment])
  return out
}
