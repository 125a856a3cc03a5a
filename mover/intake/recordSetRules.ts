/**
 * The shape a record set must have before the mover trusts it: the rules of
 * schemas/recordSet.ts checked against the session's layout (controllers,
 * volumes, block size). Pure; every violation is an XRC_INVALID_RECORD
 * naming the controller, the seq range and what is wrong, so the session
 * halts with a reason instead of journaling a malformed write.
 */
import { XrcError, type ErrorContext } from '../../lib/errors.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { viewOf, type RecordSetView } from '../../schemas/updateList.js'
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
  recordSet: RecordSet | RecordSetView,
  layout: SessionLayout,
  volumes: VolumeIndex,
  where: ErrorContext = {},
): void {
  const rs = viewOf(recordSet)
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
  if (rs.kind === 'HEARTBEAT') return checkHeartbeat(rs, fail)
  if (rs.window) fail(`a ${rs.kind} record set carries a resync window event (only a heartbeat may)`)
  checkUpdates(rs, layout.blockSize, owned as ReadonlyMap<string, number>, fail)
}

/** A heartbeat: no updates, the next seq, one time, and a well-formed window event if any. */
function checkHeartbeat(rs: RecordSetView, fail: (what: string) => never): void {
  if (rs.updates.length > 0) fail(`a heartbeat carries ${rs.updates.length} updates`)
  if (rs.firstSeq !== rs.lastSeq + 1) fail('a heartbeat must have firstSeq = lastSeq + 1 (the next seq)')
  if (rs.minTime !== rs.maxTime) fail('a heartbeat must have minTime = maxTime')
  const w = rs.window
  if (!w) return
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

/** UPDATES and RESYNC: seqs in order, times non-decreasing within the header's, whole blocks inside a volume. */
function checkUpdates(
  rs: RecordSetView,
  blockSize: number,
  owned: ReadonlyMap<string, number>,
  fail: (what: string) => never,
): void {
  const list = rs.updates
  if (list.length === 0) fail(`a ${rs.kind} record set with no updates`)
  if (rs.lastSeq - rs.firstSeq + 1 !== list.length)
    fail(`${list.length} updates for ${rs.lastSeq - rs.firstSeq + 1} seqs`)
  let previousTime = rs.minTime
  for (let i = 0; i < list.length; i++) {
    const seq = list.seq(i)
    const time = list.time(i)
    if (seq !== rs.firstSeq + i) fail(`update ${i} has seq ${seq}, expected ${rs.firstSeq + i}`)
    if (!Number.isSafeInteger(time) || time < previousTime || time > rs.maxTime) {
      fail(
        `seq ${seq} has time ${time}, outside ${previousTime}..${rs.maxTime} (times are non-decreasing in seq order)`,
      )
    }
    previousTime = time
    const volume = list.volume(i)
    const size = owned.get(volume)
    if (size === undefined) fail(`seq ${seq} writes volume "${volume}", not a volume of controller ${rs.controller}`)
    const bytes = list.bytes(i)
    if (bytes === 0 || bytes % blockSize !== 0)
      fail(`seq ${seq} carries ${bytes} bytes, not whole blocks of ${blockSize}`)
    const blocks = bytes / blockSize
    const block = list.block(i)
    if (!Number.isSafeInteger(block) || block < 0 || block + blocks > (size as number)) {
      fail(`seq ${seq} writes blocks ${block}..${block + blocks - 1} of volume "${volume}", which has ${size} blocks`)
    }
  }
}
