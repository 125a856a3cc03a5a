/**
 * The snapshots' part of one apply transaction (blockStore.ts), under the
 * control row's lock, which every snapshot create, activation and delete
 * takes too, so what it reads holds for the whole transaction:
 *   - the newest pin and the count of pending snapshots come with the lock
 *     (control row columns: blockStoreDdl.ts); only while a snapshot is
 *     pending are the targets and the image state read, once per batch;
 *   - per group, before its blocks: the pending snapshots ready now pin the
 *     group before it (snapshotRules.pinsNow), and the newest pin decides
 *     the copy on write of the rows the group replaces;
 *   - at the end of the batch: those ready at its last group pin it, and
 *     the control row's summary is refreshed if anything was pinned.
 */
import type { PoolClient } from '../../lib/postgres.js'
import type { AppliedMark } from '../journal/index.js'
import type { ImageState, ResyncTables } from '../resync/index.js'
import { safeNumber, type ControlRow } from './applyRules.js'
import type { StoreTables } from './blockStoreDdl.js'
import { newestPin, snapshotsToActivate, type ImageConsistency, type PendingSnapshot } from './snapshotRules.js'
import * as sql from './snapshotSql.js'

/** What the snapshot step of an apply needs of the store. */
export interface SnapshotApplyContext {
  tables: StoreTables
  resync: ResyncTables
  session: string
}

/** A pending snapshot's row. */
interface PendingRow {
  id: bigint
  name: string
  at_group: bigint | null
  at_time: bigint | null
}

/** The image state of a session as the snapshot rules see it, and the group it falls back on while inconsistent. */
export async function readImageConsistency(
  client: Pick<PoolClient, 'query'>,
  resync: Pick<ResyncTables, 'image'>,
  session: string,
): Promise<{ image: ImageConsistency; fallback?: { groupSeq: number; groupTime: number } }> {
  const res = await client.query<{ state: ImageConsistency; seq: bigint; time: bigint | null }>(
    sql.imageStateSql(resync),
    [session],
  )
  const row = res.rows[0]
  if (row === undefined || row.state !== 'inconsistent') return { image: row?.state ?? 'consistent' }
  const fallback = { groupSeq: safeNumber(row.seq, 'group_seq'), groupTime: Number(row.time ?? 0) }
  return { image: 'inconsistent', fallback }
}

/**
 * One apply transaction's snapshot step (see the file comment): open() it
 * with the locked control row, call beforeGroup/afterGroup around each
 * applied group's blocks, and finish() before the control row is advanced.
 */
export class SnapshotApply {
  readonly #client: PoolClient
  readonly #ctx: SnapshotApplyContext
  #pin: number | undefined
  #pending: PendingSnapshot[]
  #image: ImageConsistency
  #pinned = false

  private constructor(
    client: PoolClient,
    ctx: SnapshotApplyContext,
    pin: number | undefined,
    pending: PendingSnapshot[],
    image: ImageConsistency,
  ) {
    this.#client = client
    this.#ctx = ctx
    this.#pin = pin
    this.#pending = pending
    this.#image = image
  }

  /** The step for a transaction that read (and locked) `control`. */
  static async open(client: PoolClient, ctx: SnapshotApplyContext, control: ControlRow): Promise<SnapshotApply> {
    const pinTime = control.snapshot_pin_time
    const pin = pinTime === null || pinTime === undefined ? undefined : safeNumber(pinTime, 'snapshot_pin_time')
    if ((control.snapshots_pending ?? 0) === 0) return new SnapshotApply(client, ctx, pin, [], 'consistent')
    const rows = await client.query<PendingRow>(sql.pendingSnapshotsSql(ctx.tables))
    const pending = rows.rows.map((r) => ({
      id: Number(r.id),
      name: r.name,
      ...(r.at_group === null ? {} : { atGroup: safeNumber(r.at_group, 'at_group') }),
      ...(r.at_time === null ? {} : { atTime: safeNumber(r.at_time, 'at_time') }),
    }))
    const { image } = await readImageConsistency(client, ctx.resync, ctx.session)
    return new SnapshotApply(client, ctx, pin, pending, image)
  }

  /**
   * Before group `next` is written, `last` the group applied before it:
   * pins the pending snapshots ready now, and returns the newest pin, which
   * decides the copy on write of the rows `next` replaces.
   */
  async beforeGroup(last: AppliedMark | undefined, next: { groupTime: number }): Promise<number | undefined> {
    await this.#activate(last, next)
    return this.#pin
  }

  /** No snapshot is active or pending: none pins a group of this transaction, no row is kept for one. */
  get idle(): boolean {
    return this.#pin === undefined && this.#pending.length === 0
  }

  /** After a group's blocks: the image it left (the resync step's answer; undefined: consistent). */
  afterGroup(image: ImageState | undefined): void {
    this.#image = image?.state ?? 'consistent'
  }

  /** At the end of the batch, `last` its last applied group: pins what is ready at it; refreshes the summary. */
  async finish(last: AppliedMark | undefined): Promise<void> {
    await this.#activate(last, undefined)
    if (this.#pinned) await this.#client.query(sql.refreshSummarySql(this.#ctx.tables), [this.#ctx.session])
  }

  async #activate(last: AppliedMark | undefined, next: { groupTime: number } | undefined): Promise<void> {
    if (this.#pending.length === 0 || last === undefined) return
    const ready = snapshotsToActivate(this.#pending, last, this.#image, next)
    if (ready.length === 0) return
    await this.#client.query(sql.activateSnapshotsSql(this.#ctx.tables), [
      ready.map((p) => p.id),
      last.groupSeq,
      last.groupTime,
      last.journalOffset,
    ])
    this.#pending = this.#pending.filter((p) => !ready.includes(p))
    this.#pin = newestPin([...(this.#pin === undefined ? [] : [this.#pin]), last.groupTime])
    this.#pinned = true
  }
}
