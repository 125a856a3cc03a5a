/**
 * The serving of a drill: the lease that says which process serves it, and
 * the drill's image that process reads and writes (drills.ts serve()).
 *
 * The lease is a session-level advisory lock (LEASE_CLASS, a hash of schema
 * and session) held on one connection: PostgreSQL lets it go when that
 * connection ends, however its process ends, so a stop never waits on a
 * server that is gone, and pg_locks names the one that is there. The
 * holder watches the drill's phase on the same connection and ends once a
 * stop begins (or the drill is gone).
 */
import { errorMessage, XrcError } from '../../lib/errors.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'
import { sleep } from '../../lib/retry.js'
import { safeNumber } from '../store/applyRules.js'
import type { VolumeLayout } from '../store/groupValidation.js'
import type { RangeImage, StoreLayout } from '../store/imageRanges.js'
import type { DrillPhase } from './drillRules.js'
import type { DrillInfo } from './drillRows.js'
import * as sql from './drillSql.js'
import { mergeOverlay, overlayRowsOf } from './overlayMerge.js'

/** Why a lease ended: the drill stopped or is gone (the server closes, its work done), or its connection was lost. */
export interface LeaseEnd {
  kind: 'stopping' | 'gone' | 'lost'
  why: string
}

/** How often a serving lease reads the drill's phase, ms. */
const WATCH_EVERY_MS = 250
/** The advisory lock's first key: 'XRCD'. The second is a hash of schema and session (leaseKey). */
export const LEASE_CLASS = 0x58524344

/** A served drill's image: reads merge the overlay over the snapshot; writes go to the overlay. */
export interface DrillImage {
  readonly layout: StoreLayout
  /** Blocks [first, first + count) of `volume`. */
  read(volume: VolumeLayout, first: number, count: number): Promise<Buffer>
  /** Whole blocks at `first`; XRC_CONFLICT (drillEnded) once the drill is no longer running. */
  write(volume: VolumeLayout, first: number, blocks: Buffer): Promise<void>
}

/** The right to serve the drill, held until release(). */
export interface DrillLease {
  readonly drill: DrillInfo
  readonly image: DrillImage
  /** Resolves with the reason once the drill stops (or is gone), or the lease's connection is lost. */
  readonly ended: Promise<LeaseEnd>
  release(): Promise<void>
}

/** FNV-1a, 32 bits, as a signed int4: the lease's second key. */
export function leaseKey(text: string): number {
  let h = 0x811c9dc5
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193)
  return h | 0
}

/** Takes the lease on `client` if it is free: true when taken (a session lock: held until let go or disconnected). */
export async function tryLease(client: Pick<PoolClient, 'query'>, key: number): Promise<boolean> {
  const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LEASE_CLASS, key])
  return got.rows[0]?.ok === true
}

/** Lets the lease go on the client that holds it. */
export async function letGoLease(client: Pick<PoolClient, 'query'>, key: number): Promise<void> {
  await client.query('SELECT pg_advisory_unlock($1, $2)', [LEASE_CLASS, key])
}

/** Who holds the serving lease (application "xrc-drill", PostgreSQL backend pid 123), if anyone. */
export async function leaseHolder(pool: Pool, key: number): Promise<string | undefined> {
  const res = await pool.query<{ pid: number; app: string }>(
    `SELECT a.pid, a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database
       WHERE datname = current_database())
       AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 2`,
    [LEASE_CLASS, key >>> 0],
  )
  const r = res.rows[0]
  return r === undefined ? undefined : `application "${r.app}", PostgreSQL backend pid ${r.pid}`
}

/** The drill's image: the overlay's blocks over the snapshot's. */
export class OverlayImage implements DrillImage {
  readonly #pool: Pool
  readonly #t: sql.DrillTables
  readonly #drill: { id: bigint; name: string; session: string }
  readonly #snapshot: RangeImage

  constructor(
    pool: Pool,
    t: sql.DrillTables,
    drill: { id: bigint; name: string; session: string },
    snapshot: RangeImage,
    readonly layout: StoreLayout,
  ) {
    this.#pool = pool
    this.#t = t
    this.#drill = drill
    this.#snapshot = snapshot
  }

  async read(volume: VolumeLayout, first: number, count: number): Promise<Buffer> {
    const [base, overlay] = await Promise.all([
      this.#snapshot.read(volume, first, count),
      this.#pool.query<{ block: bigint; data: Buffer | null }>(sql.readOverlaySql(this.#t), [
        this.#drill.id,
        volume.id,
        first,
        first + count,
      ]),
    ])
    const rows = overlay.rows.map((r) => ({ block: safeNumber(r.block, 'block'), data: r.data }))
    return mergeOverlay(base, first, count, this.layout.blockSize, rows)
  }

  async write(volume: VolumeLayout, first: number, blocks: Buffer): Promise<void> {
    const rows = overlayRowsOf(first, blocks, this.layout.blockSize)
    if (rows.length === 0) return
    const res = await this.#pool.query(sql.writeOverlaySql(this.#t), [
      this.#drill.id,
      volume.id,
      rows.map((r) => r.block),
      rows.map((r) => r.data),
    ])
    if (res.rowCount !== rows.length)
      throw new XrcError('XRC_CONFLICT', { reason: 'drillEnded', name: this.#drill.name, session: this.#drill.session })
  }
}

/** The serving lease: the advisory lock on its own connection, and the watch of the drill's phase. */
export class Lease implements DrillLease {
  readonly ended: Promise<LeaseEnd>
  readonly #client: PoolClient
  readonly #stop = new AbortController()
  #released: Promise<void> | undefined
  #watch: Promise<void>

  constructor(
    client: PoolClient,
    t: sql.DrillTables,
    readonly drill: DrillInfo,
    readonly image: DrillImage,
    readonly key: number,
    session: string,
    id: bigint,
  ) {
    this.#client = client
    let end!: (e: LeaseEnd) => void
    this.ended = new Promise((resolve) => (end = resolve))
    const watch = async (): Promise<void> => {
      const signal = this.#stop.signal
      while (!signal.aborted) {
        try {
          const res = await client.query<{ id: bigint; phase: DrillPhase }>(sql.drillPhaseSql(t), [session])
          const row = res.rows[0]
          if (row === undefined || row.id !== id) return end({ kind: 'gone', why: 'the drill is gone' })
          if (row.phase !== 'running')
            return end({ kind: 'stopping', why: 'the drill is being stopped (xrc drill stop)' })
        } catch (err) {
          return end({ kind: 'lost', why: `the lease's PostgreSQL connection failed: ${errorMessage(err)}` })
        }
        await sleep(WATCH_EVERY_MS, signal).catch(() => undefined)
      }
    }
    this.#watch = watch()
  }

  release(): Promise<void> {
    this.#released ??= (async () => {
      this.#stop.abort()
      await this.#watch
      try {
        await letGoLease(this.#client, this.key)
        this.#client.release()
      } catch (err) {
        this.#client.release(err instanceof Error ? err : new Error(String(err)))
      }
    })()
    return this.#released
  }
}
