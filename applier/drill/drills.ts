/**
 * A session's disaster-recovery drill on its secondary: a writable,
 * throwaway copy of the image as of one group, made without copying data
 * and without writing to the secondary's blocks. The copy is a snapshot of
 * the drill's own (pinning the newest group, or the group of a snapshot
 * that pins the one asked for) with an overlay on top: every block the
 * drill writes goes to drill_blocks (drillSql.ts), and a read takes the
 * overlay's block where there is one, else the snapshot's (overlayMerge.ts).
 * The applier goes on applying meanwhile; the drill's snapshot keeps its
 * image as any snapshot does (copy on write of what the applier replaces).
 *
 * start: one transaction, the control row locked first as an apply does:
 * the rules (drillRules.ts) decide on the facts read under that lock, the
 * snapshot row and the drill row are inserted together: a drill is never
 * half made.
 *
 * Serving: the process that serves a drill holds a serving lease, a
 * session-level advisory lock on one connection (released by PostgreSQL
 * when that process dies, however it dies), and watches the drill's phase:
 * once a stop begins, it closes its exports and lets go.
 *
 * stop: marks the drill stopping (and records what the operator checked),
 * waits for the serving lease (a bounded wait with progress; a server
 * that never lets go is named and the stop refused: nothing is discarded
 * under a server that could still write), discards the overlay in batches
 * with progress, then in one transaction deletes the drill's snapshot
 * (and the kept versions only it reads) and turns the drill row into a
 * history row. A stop cut short anywhere is finished by the next.
 */
import { XrcError, isXrcError } from '../../lib/errors.js'
import { silentLogger, type Logger } from '../../lib/logger.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { resyncTables } from '../resync/index.js'
import { markOfControlRow, type ControlRow } from '../store/applyRules.js'
import { storeTables, type StoreTables } from '../store/blockStoreDdl.js'
import { createImageRanges } from '../store/imageRanges.js'
import { readImageConsistency } from '../store/snapshotApply.js'
import * as snapshotSql from '../store/snapshotSql.js'
import { pinOfRow, type SnapshotRow } from '../store/snapshots.js'
import { readControlSql } from '../store/storeSql.js'
import { inTransaction } from '../store/transaction.js'
import {
  checkDrillName,
  checkDrillServe,
  defaultDrillName,
  drillSnapshotName,
  planDrillStart,
  planDrillStop,
} from './drillRules.js'
import {
  historyOf,
  infoOf,
  recordOf,
  type DrillHistoryEntry,
  type DrillInfo,
  type DrillRow,
  type HistoryRow,
} from './drillRows.js'
import * as sql from './drillSql.js'
import {
  Lease,
  LEASE_CLASS,
  leaseHolder,
  leaseKey,
  letGoLease,
  OverlayImage,
  tryLease,
  type DrillLease,
} from './servingLease.js'

/** Overlay rows deleted per statement when a drill stops. */
const DISCARD_BATCH = 20_000

export interface DrillsOptions {
  pool: Pool
  /** The schema of the session's secondary (config.applier.schema); its store must be init()ed. */
  schema: string
  session: string
  logger?: Logger
}

export type { DrillHistoryEntry, DrillInfo } from './drillRows.js'
export type { DrillImage, DrillLease } from './servingLease.js'

/** What a stop is doing, for progress lines. */
export type StopProgress =
  { step: 'waiting-for-server'; holder: string; waitedMs: number } | { step: 'discarding'; done: number; total: number }

export interface StopOptions {
  /** What the operator checked, kept in the history. */
  checked?: string
  /** False: discard without a history row (a start whose serving failed). Default true. */
  record?: boolean
  /** How long to wait for the server to let go, ms (default 30 s). */
  serverTimeoutMs?: number
  onProgress?: (p: StopProgress) => void
}

export type StopResult = { kind: 'stopped'; drill: DrillHistoryEntry } | { kind: 'nothing'; last?: DrillHistoryEntry }

export interface Drills {
  /** Starts a drill (see the file comment): XRC_CONFLICT while one exists, XRC_USAGE for a group not kept. */
  start(request?: { name?: string; atGroup?: number }): Promise<DrillInfo>
  /** The session's drill, running or being stopped; undefined when there is none. */
  current(): Promise<DrillInfo | undefined>
  /** Stopped drills, newest first. */
  history(limit?: number): Promise<DrillHistoryEntry[]>
  /** Stops the drill; with none, says so (kind 'nothing', with the last drill). */
  stop(options?: StopOptions): Promise<StopResult>
  /** Who serves the drill now (application name and PostgreSQL backend pid); undefined: nobody. */
  servedBy(): Promise<string | undefined>
  /** Takes the serving lease: XRC_NOT_FOUND with no drill, XRC_CONFLICT while stopping or served elsewhere. */
  serve(): Promise<DrillLease>
}

export function createDrills(options: DrillsOptions): Drills {
  return new PgDrills(options)
}

class PgDrills implements Drills {
  readonly #o: DrillsOptions
  readonly #t: sql.DrillTables
  readonly #store: StoreTables
  readonly #log: Logger
  readonly #key: number

  constructor(options: DrillsOptions) {
    this.#o = options
    this.#t = sql.drillTables(options.schema)
    this.#store = storeTables(options.schema)
    this.#key = leaseKey(`${options.schema}/${options.session}`)
    this.#log = (options.logger ?? silentLogger).child({
      component: 'drills',
      session: options.session,
      schema: options.schema,
    })
  }

  async start(request: { name?: string; atGroup?: number } = {}): Promise<DrillInfo> {
    const name = request.name ?? defaultDrillName(new Date())
    checkDrillName(name)
    await this.#checkStore()
    await this.#ensureTables()
    const { session } = this.#o
    const info = await inTransaction(this.#o.pool, async (client) => {
      // the control row first, as an apply locks it: the facts below hold until commit
      const control = await this.#control(client, true)
      const last = markOfControlRow(control)
      const { image, fallback } = await readImageConsistency(client, resyncTables(this.#o.schema), session)
      const current = await client.query<DrillRow>(sql.drillOfSessionSql(this.#t, true), [session])
      const active = await client.query<SnapshotRow>(
        `SELECT ${snapshotSql.SNAPSHOT_COLUMNS} FROM ${this.#store.snapshots} s WHERE s.state = 'active'`,
      )
      const plan = planDrillStart({
        session,
        current: recordOf(current.rows[0]),
        last,
        image: image === 'inconsistent' ? 'inconsistent' : 'consistent',
        ...(fallback ? { fallbackSeq: fallback.groupSeq } : {}),
        ...(request.atGroup === undefined ? {} : { atGroup: request.atGroup }),
        pinned: active.rows.flatMap((r) => {
          const pin = pinOfRow(r)
          return pin === undefined ? [] : [{ name: r.name, pin }]
        }),
      })
      const snapshot = drillSnapshotName(name)
      const { groupSeq, groupTime, journalOffset } = plan.pin
      const inserted = await client.query(snapshotSql.insertSnapshotSql(this.#store), [
        snapshot,
        'active',
        groupSeq,
        groupTime,
        journalOffset,
        null,
        null,
      ])
      if (inserted.rowCount === 0)
        throw new XrcError('XRC_CONFLICT', { reason: 'snapshotNameTaken', name: snapshot, session })
      await client.query(snapshotSql.refreshSummarySql(this.#store), [session])
      const source = plan.source === 'newest' ? 'newest' : plan.snapshot
      const row = await client.query<DrillRow>(sql.insertDrillSql(this.#t), [
        session,
        name,
        snapshot,
        groupSeq,
        groupTime,
        journalOffset,
        source,
      ])
      return infoOf(row.rows[0] as DrillRow)
    })
    this.#log.info({ drill: info.name, groupSeq: info.groupSeq, source: info.source }, 'drill started')
    return info
  }

  async current(): Promise<DrillInfo | undefined> {
    if (!(await this.#tablesExist())) return undefined
    const row = await this.#drillRow(this.#o.pool)
    if (row === undefined) return undefined
    const [count, holder] = await Promise.all([
      this.#o.pool.query<{ n: bigint }>(sql.countOverlaySql(this.#t), [row.id]),
      leaseHolder(this.#o.pool, this.#key),
    ])
    return {
      ...infoOf(row),
      blocksWritten: Number(count.rows[0]?.n ?? 0),
      ...(holder === undefined ? {} : { servedBy: holder }),
    }
  }

  async history(limit = 20): Promise<DrillHistoryEntry[]> {
    if (!(await this.#tablesExist())) return []
    const res = await this.#o.pool.query<HistoryRow>(sql.historySql(this.#t), [this.#o.session, limit])
    return res.rows.map(historyOf)
  }

  servedBy(): Promise<string | undefined> {
    return leaseHolder(this.#o.pool, this.#key)
  }

  async stop(options: StopOptions = {}): Promise<StopResult> {
    if (!(await this.#tablesExist())) return { kind: 'nothing' }
    const { pool, session } = this.#o
    const plan = planDrillStop(recordOf(await this.#drillRow(pool)))
    if (plan.kind === 'nothing') {
      const [last] = await this.history(1)
      return last === undefined ? { kind: 'nothing' } : { kind: 'nothing', last }
    }
    // marked stopping first: a server watching the drill sees it and lets go (a second stop may add what was checked)
    const marked = await pool.query<DrillRow>(sql.markStoppingSql(this.#t), [session, options.checked ?? null])
    const row = marked.rows[0]
    if (row === undefined) return { kind: 'nothing' }
    this.#log.info({ drill: row.name }, 'drill stopping')
    const client = await pool.connect()
    let broken: Error | undefined
    let held = false
    try {
      held = await this.#awaitLease(client, row.name, options)
      // another stop may have finished it while this one waited for the lease
      if ((await this.#drillRow(client))?.id !== row.id) {
        const [last] = await this.history(1)
        return last === undefined ? { kind: 'nothing' } : { kind: 'nothing', last }
      }
      const total = Number((await client.query<{ n: bigint }>(sql.countOverlaySql(this.#t), [row.id])).rows[0]?.n)
      // the count of a stop cut short during the discard is kept: the blocks the drill wrote, not those left
      await client.query(sql.keepBlocksWrittenSql(this.#t), [row.id, total])
      let done = 0
      options.onProgress?.({ step: 'discarding', done, total })
      for (;;) {
        const res = await client.query(sql.discardOverlayBatchSql(this.#t), [row.id, DISCARD_BATCH])
        done += res.rowCount ?? 0
        options.onProgress?.({ step: 'discarding', done, total })
        if ((res.rowCount ?? 0) < DISCARD_BATCH) break
      }
      // without a history row (record false) the entry is made here; its bytes are not counted
      const drill =
        (await this.#finish(row, options.record ?? true)) ??
        historyOf({ ...row, stopped_at: new Date(), blocks_written: BigInt(total), bytes_written: 0n })
      this.#log.info({ drill: row.name, blocksWritten: drill.blocksWritten }, 'drill stopped')
      return { kind: 'stopped', drill }
    } catch (err) {
      if (!isXrcError(err)) broken = err instanceof Error ? err : new Error(String(err))
      throw err
    } finally {
      if (held && broken === undefined)
        await letGoLease(client, this.#key).catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e))
        })
      client.release(broken)
    }
  }

  async serve(): Promise<DrillLease> {
    if (!(await this.#tablesExist()))
      throw new XrcError('XRC_NOT_FOUND', { reason: 'noDrill', session: this.#o.session, schema: this.#o.schema })
    const { pool, session, schema } = this.#o
    const client = await pool.connect()
    try {
      const got = await tryLease(client, this.#key)
      const row = await this.#drillRow(client)
      if (!got) {
        const record = checkDrillServe(session, schema, recordOf(row))
        const holder = (await leaseHolder(this.#o.pool, this.#key)) ?? 'another process'
        throw new XrcError('XRC_CONFLICT', { reason: 'drillServed', name: record.name, session, holder })
      }
      try {
        checkDrillServe(session, schema, recordOf(row))
      } catch (err) {
        await letGoLease(client, this.#key)
        throw err
      }
      const drillRow = row as DrillRow
      const ranges = createImageRanges({ pool, schema, session })
      const snapshotImage = await ranges.snapshot(drillRow.snapshot).catch((err: unknown) => {
        if (isXrcError(err, 'XRC_NOT_FOUND'))
          throw new XrcError('XRC_NOT_FOUND', {
            reason: 'drillSnapshotGone',
            snapshot: drillRow.snapshot,
            name: drillRow.name,
          })
        throw err
      })
      const image = new OverlayImage(
        pool,
        this.#t,
        { id: drillRow.id, name: drillRow.name, session },
        snapshotImage,
        await ranges.layout(),
      )
      return new Lease(client, this.#t, infoOf(drillRow), image, this.#key, session, drillRow.id)
    } catch (err) {
      // this connection's session locks: the lease, if it was taken
      await client
        .query('SELECT pg_advisory_unlock_all()')
        .then(() => client.release())
        .catch((e: unknown) => client.release(e instanceof Error ? e : new Error(String(e))))
      throw err
    }
  }

  /** Waits for the serving lease (whoever serves the drill lets go once it sees it stopping); true once held. */
  async #awaitLease(client: PoolClient, name: string, options: StopOptions): Promise<true> {
    const timeoutMs = options.serverTimeoutMs ?? 30_000
    const began = Date.now()
    let holder = 'a process'
    try {
      return await waitFor(
        "the drill's NBD server to let go",
        async () => {
          if (await tryLease(client, this.#key)) return true
          holder = (await leaseHolder(this.#o.pool, this.#key)) ?? holder
          options.onProgress?.({ step: 'waiting-for-server', holder, waitedMs: Date.now() - began })
          return undefined
        },
        { timeoutMs, intervalMs: 200 },
      )
    } catch (err) {
      if (isXrcError(err, 'XRC_TIMEOUT'))
        throw new XrcError('XRC_CONFLICT', { reason: 'drillServerHolds', name, holder, timeoutMs })
      throw err
    }
  }

  /** Deletes the drill's snapshot and turns its row into history (or drops it), in one transaction. */
  async #finish(row: DrillRow, record: boolean): Promise<DrillHistoryEntry | undefined> {
    const { session } = this.#o
    return inTransaction(this.#o.pool, async (client) => {
      await this.#control(client, true)
      const snap = await client.query<SnapshotRow>(snapshotSql.snapshotByNameSql(this.#store), [row.snapshot])
      const s = snap.rows[0]
      if (s !== undefined) {
        const pin = pinOfRow(s)
        if (pin !== undefined) await client.query(snapshotSql.freeVersionsSql(this.#store), [s.id, pin.groupTime])
        await client.query(`DELETE FROM ${this.#store.snapshots} WHERE id = $1`, [s.id])
        await client.query(snapshotSql.refreshSummarySql(this.#store), [session])
      }
      if (!record) {
        await client.query(`DELETE FROM ${this.#t.drills} WHERE session = $1`, [session])
        return undefined
      }
      const layout = await client.query<{ block_size: number }>(`SELECT block_size FROM ${this.#store.volumes} LIMIT 1`)
      const res = await client.query<HistoryRow>(sql.recordHistorySql(this.#t), [
        session,
        layout.rows[0]?.block_size ?? 0,
      ])
      const h = res.rows[0]
      return h === undefined ? undefined : historyOf(h)
    })
  }

  async #drillRow(q: Pick<PoolClient, 'query'>): Promise<DrillRow | undefined> {
    return (await q.query<DrillRow>(sql.drillOfSessionSql(this.#t), [this.#o.session])).rows[0]
  }

  async #control(client: Pick<PoolClient, 'query'>, lock: boolean): Promise<ControlRow> {
    const res = await client.query<ControlRow>(readControlSql(this.#store, lock), [this.#o.session])
    const row = res.rows[0]
    if (row === undefined)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'controlRow', schema: this.#o.schema, session: this.#o.session })
    return row
  }

  async #checkStore(): Promise<void> {
    const found = await this.#o.pool.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [
      this.#store.snapshots,
    ])
    if (!found.rows[0]?.r)
      throw new XrcError('XRC_NOT_FOUND', {
        reason: 'storeNotInitialised',
        schema: this.#o.schema,
        session: this.#o.session,
      })
  }

  async #tablesExist(): Promise<boolean> {
    const found = await this.#o.pool.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [this.#t.drills])
    return Boolean(found.rows[0]?.r)
  }

  /** The drill tables, made once: under a transaction-level advisory lock, since concurrent CREATEs collide. */
  async #ensureTables(): Promise<void> {
    if (await this.#tablesExist()) return
    await inTransaction(this.#o.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LEASE_CLASS + 1, this.#key])
      for (const ddl of sql.drillDdl(this.#t)) await client.query(ddl)
    })
  }
}
