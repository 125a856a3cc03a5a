/**
 * The shape a record set must have before the mover trusts it: the rules of
 * schemas/recordSet.ts checked against the session's layout (controllers,
 * volumes, block size). Pure; every violation is an XRC_INVALID_RECORD
 * naming the controller, the seq range and what is wrong, so the session
 * halts with a reason instead of journaling a malformed write.
 */
import { XrcError, type ErrorContext } from '../../lib/errors.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { RESYNC_WINDOW_REASON_MAX } from '../../schemas/resyncWindow.js'

/** The part of the session's configuration the mover checks record sets against (config.session has this shape). */
export interface SessionLayout {
  readonly name: string
  readonly blockSize: number
  readonly controllers: readonly {
    readonly id: number
    readonly volumes: readonly { readonly name: string; readonly blocks: number }[]
  }[]
}

/** Per controller: its volumes and their sizes in blocks. */
export type VolumeIndex = ReadonlyMap<number, ReadonlyMap<string, number>>

export function indexVolumes(layout: SessionLayout): VolumeIndex {
  return new Map(layout.controllers.map((c) => [c.id, new Map(c.volumes.map((v) => [v.name, v.blocks]))]))
}

/**
 * Throws XRC_INVALID_RECORD unless `rs` is a well-formed record set of a
 * configured controller of this session:
 * - UPDATES and RESYNC: at least one update, seqs firstSeq..lastSeq in
 *   order, times non-decreasing and within minTime..maxTime, each update on
 *   a volume of this controller, whole blocks inside the volume.
 * - HEARTBEAT: no updates, firstSeq = lastSeq + 1, minTime = maxTime. A
 *   resync window event only here: epoch, S and blocks non-negative
 *   integers, a BEGIN's S before the heartbeat's time, a reason of at most
 *   RESYNC_WINDOW_REASON_MAX characters (schemas/resyncWindow.ts).
 */
export function checkRecordSet(
  rs: RecordSet,
  layout: SessionLayout,
  volumes: VolumeIndex,
  where: ErrorContext = {},
): void {
  const context: ErrorContext = {
    session: layout.name,
    controller: rs.controller,
    firstSeq: rs.firstSeq,
    lastSeq: rs.lastSeq,
    ...where,
  }
  const fail = (what: string): never => {
    throw new XrcError(
      'XRC_INVALID_RECORD',
      { controller: rs.controller, firstSeq: rs.firstSeq, lastSeq: rs.lastSeq, problem: what },
      { context },
    )
  }
  if (rs.session !== layout.name) fail(`session "${rs.session}", expected "${layout.name}"`)
  const owned = volumes.get(rs.controller)
  if (owned === undefined) fail(`controller ${rs.controller} is not configured in session "${layout.name}"`)
  // lastSeq is -1 in a heartbeat sent before a controller's first write at seq 0
  for (const [name, v, min] of [
    ['firstSeq', rs.firstSeq, 0],
    ['lastSeq', rs.lastSeq, -1],
    ['minTime', rs.minTime, 0],
    ['maxTime', rs.maxTime, 0],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < min) fail(`${name} ${v} is not an integer >= ${min}`)
  }
  if (rs.minTime > rs.maxTime) fail(`minTime ${rs.minTime} after maxTime ${rs.maxTime}`)
  if (rs.kind === 'HEARTBEAT') {
    if (rs.updates.length > 0) fail(`a heartbeat carries ${rs.updates.length} updates`)
    if (rs.firstSeq !== rs.lastSeq + 1) fail('a heartbeat must have firstSeq = lastSeq + 1 (the next seq)')
    if (rs.minTime !== rs.maxTime) fail('a heartbeat must have minTime = maxTime')
    const w = rs.window
    if (w) {
      for (const [name, v] of [
        ['epoch', w.epoch],
        ['consistentUntil', w.consistentUntil],
        ['blocks', w.blocks],
      ] as const) {
        if (!Number.isSafeInteger(v) || v < 0) fail(`resync window ${name} ${v} is not an integer >= 0`)
      }
      // the window opens after S: the controller's stream held every change up to S
      if (w.event === 'BEGIN' && w.consistentUntil >= rs.maxTime)
        fail(`resync window of epoch ${w.epoch} begins at ${rs.maxTime}, not after its S ${w.consistentUntil}`)
      if (w.reason.length > RESYNC_WINDOW_REASON_MAX)
        fail(`resync window reason of ${w.reason.length} characters (at most ${RESYNC_WINDOW_REASON_MAX})`)
    }
    return
  }
  if (rs.window) fail(`a ${rs.kind} record set carries a resync window event (only a heartbeat may)`)
  if (rs.updates.length === 0) fail(`a ${rs.kind} record set with no updates`)
  if (rs.lastSeq - rs.firstSeq + 1 !== rs.updates.length)
    fail(`${rs.updates.length} updates for ${rs.lastSeq - rs.firstSeq + 1} seqs`)
  let previousTime = rs.minTime
  rs.updates.forEach((u, i) => {
    if (u.seq !== rs.firstSeq + i) fail(`update ${i} has seq ${u.seq}, expected ${rs.firstSeq + i}`)
    if (!Number.isSafeInteger(u.time) || u.time < previousTime || u.time > rs.maxTime) {
      fail(
        `seq ${u.seq} has time ${u.time}, outside ${previousTime}..${rs.maxTime} ` +
          '(times are non-decreasing in seq order)',
      )
    }
    previousTime = u.time
    const size = (owned as ReadonlyMap<string, number>).get(u.volume)
    if (size === undefined)
      fail(`seq ${u.seq} writes volume "${u.volume}", not a volume of controller ${rs.controller}`)
    if (u.data.length === 0 || u.data.length % layout.blockSize !== 0)
      fail(`seq ${u.seq} carries ${u.data.length} bytes, not whole blocks of ${layout.blockSize}`)
    const blocks = u.data.length / layout.blockSize
    if (!Number.isSafeInteger(u.block) || u.block < 0 || u.block + blocks > (size as number)) {
      fail(
        `seq ${u.seq} writes blocks ${u.block}..${u.block + blocks - 1} ` +
          `of volume "${u.volume}", which has ${size} blocks`,
      )
    }
  })
}
