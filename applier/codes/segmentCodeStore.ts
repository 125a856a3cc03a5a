/**
 * The secondary's segment codes in PostgreSQL (table segment_codes, rules:
 * validFlags.ts, statements: codesSql.ts): codes computed by the server from
 * a consistent read, for verify (read) and for the applier's recomputer
 * (toRecompute, recompute).
 */
import { XrcError } from '../../lib/errors.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'
import { storeTables, type StoreTables } from '../store/blockStoreDdl.js'
import type { SegmentCandidate } from './quietSegments.js'
import * as sql from './codesSql.js'

export interface SegmentCodesOptions {
  pool: Pool
  /** The store's PostgreSQL schema (applier.schema). */
  schema: string
  /** session.segmentBlocks */
  segmentBlocks: number
  /** session.blockSize */
  blockSize: number
}

/** A segment's code computed now from its blocks, with the stored row's state in the same snapshot. */
export interface SegmentCodeRead {
  segment: number
  /** SHA-256 of the segment's blocks as the snapshot holds them, hex. */
  code: string
  /** The stored row's generation (0 without one). */
  generation: number
  /** Whether the stored code is valid, and the stored code (hex) when there is one. */
  valid: boolean
  stored?: string
}

/** The codes of some segments of one volume, and the applied group (seq, time) they are the image of. */
export interface VolumeCodes {
  asOf: { groupSeq: number; groupTime: number } | undefined
  volumeBlocks: number
  codes: SegmentCodeRead[]
}

export interface SegmentKey {
  volumeId: number
  segment: number
}

export interface SegmentCodes {
  readonly segmentBlocks: number
  /** In one REPEATABLE READ snapshot: the last applied group and the codes of `segments` of `volume`. */
  read(volume: string, segments: readonly number[]): Promise<VolumeCodes>
  /**
   * Up to `limit` segments whose code is not valid, with their generation: invalidated ones first, in (volume,
   * segment) order after `after` (from the start without it), then those without a row (generation 0).
   */
  toRecompute(limit: number, after?: SegmentKey): Promise<SegmentCandidate[]>
  /**
   * Computes the codes of `segments` in one snapshot and sets each valid
   * unless its segment was written since (validFlags.mayValidate). Returns
   * how many were set valid and the segment bytes read.
   */
  recompute(segments: readonly SegmentKey[]): Promise<{ validated: number; bytes: number }>
}

interface CodeRow {
  segment: bigint
  code: Buffer
  generation: bigint
  valid: boolean
  stored: Buffer | null
}

export function createSegmentCodes(options: SegmentCodesOptions): SegmentCodes {
  const t = storeTables(options.schema)
  const zero = Buffer.alloc(options.blockSize)
  const compute = async (c: PoolClient, volumeId: number, blocks: number, segments: readonly number[]) => {
    const res = await c.query<CodeRow>(sql.computeCodesSql(t), [
      volumeId,
      segments,
      options.segmentBlocks,
      blocks,
      zero,
    ])
    return res.rows.map(codeRead)
  }
  return {
    segmentBlocks: options.segmentBlocks,
    read: (volume, segments) =>
      inSnapshot(options.pool, async (c) => {
        const asOf = await appliedMark(c, t)
        const v = await volumeByName(c, t, volume)
        return { asOf, volumeBlocks: v.blocks, codes: await compute(c, v.id, v.blocks, segments) }
      }),
    async toRecompute(limit, after) {
      const res = await options.pool.query<{ volume_id: number; segment: bigint; generation: bigint }>(
        sql.segmentsToRecomputeSql(t),
        [limit, options.segmentBlocks, after?.volumeId ?? -1, after?.segment ?? -1],
      )
      return res.rows.map((r) => ({
        volumeId: r.volume_id,
        segment: Number(r.segment),
        generation: Number(r.generation),
      }))
    },
    async recompute(segments) {
      const computed = await inSnapshot(options.pool, async (c) => {
        const out: { volumeId: number; read: SegmentCodeRead }[] = []
        for (const [volumeId, segs] of byVolume(segments)) {
          const blocks = await volumeBlocks(c, t, volumeId)
          for (const read of await compute(c, volumeId, blocks, segs)) out.push({ volumeId, read })
        }
        return out
      })
      const res = await options.pool.query(sql.validateCodesSql(t), [
        computed.map((x) => x.volumeId),
        computed.map((x) => x.read.segment),
        computed.map((x) => x.read.generation),
        computed.map((x) => Buffer.from(x.read.code, 'hex')),
      ])
      const bytes = segments.length * options.segmentBlocks * options.blockSize
      return { validated: res.rowCount ?? 0, bytes }
    },
  }
}

function codeRead(r: CodeRow): SegmentCodeRead {
  return {
    segment: Number(r.segment),
    code: r.code.toString('hex'),
    generation: Number(r.generation),
    valid: r.valid,
    ...(r.stored ? { stored: r.stored.toString('hex') } : {}),
  }
}

function byVolume(segments: readonly SegmentKey[]): Map<number, number[]> {
  const out = new Map<number, number[]>()
  for (const s of segments) out.set(s.volumeId, [...(out.get(s.volumeId) ?? []), s.segment])
  return out
}

/** Runs `fn` in one REPEATABLE READ READ ONLY transaction: all it reads is as of one moment. */
async function inSnapshot<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))))
    throw err
  } finally {
    client.release(broken)
  }
}

async function appliedMark(c: PoolClient, t: StoreTables): Promise<VolumeCodes['asOf']> {
  const res = await c.query<{ group_seq: bigint; group_time: bigint | null }>(
    `SELECT group_seq, group_time FROM ${t.control} LIMIT 1`,
  )
  const row = res.rows[0]
  if (row === undefined || row.group_time === null) return undefined
  return { groupSeq: Number(row.group_seq), groupTime: Number(row.group_time) }
}

async function volumeByName(c: PoolClient, t: StoreTables, name: string): Promise<{ id: number; blocks: number }> {
  const res = await c.query<{ id: number; blocks: bigint }>(`SELECT id, blocks FROM ${t.volumes} WHERE name = $1`, [
    name,
  ])
  const row = res.rows[0]
  if (row === undefined) throw new XrcError('XRC_NOT_FOUND', { reason: 'codesVolume', volume: name, schema: t.schema })
  return { id: row.id, blocks: Number(row.blocks) }
}

async function volumeBlocks(c: PoolClient, t: StoreTables, id: number): Promise<number> {
  const res = await c.query<{ blocks: bigint }>(`SELECT blocks FROM ${t.volumes} WHERE id = $1`, [id])
  return Number(res.rows[0]?.blocks ?? 0)
}
