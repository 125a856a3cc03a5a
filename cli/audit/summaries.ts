/**
 * What `xrc audit` prints for a record set or a group: every field of the
 * header as it is, and the block payloads summarised (counts, bytes, block
 * ranges per volume, a SHA-256 of the data) rather than dumped. Pure.
 */
import { createHash } from 'node:crypto'

/** An update as any Avro reader decodes it (record sets and journal records alike). */
export interface DecodedUpdate {
  controller?: number
  seq: number
  time: number
  volume: string
  block: number
  data: Buffer
}

export interface UpdatesSummary {
  updates: number
  bytes: number
  /** Per volume: updates and the lowest and highest block written. */
  volumes: Record<string, { updates: number; firstBlock: number; lastBlock: number }>
  /** SHA-256 of the updates' data in order, first 16 hex digits: the same bytes give the same digest. */
  sha256: string
  /** With `eachUpdate`: one entry per update, its data as a length and digest. */
  list?: {
    controller?: number
    seq: number
    time: number
    volume: string
    block: number
    bytes: number
    sha256: string
  }[]
}

function digest(parts: readonly Buffer[]): string {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest('hex').slice(0, 16)
}

export function summarizeUpdates(updates: readonly DecodedUpdate[], eachUpdate = false): UpdatesSummary {
  const volumes: UpdatesSummary['volumes'] = {}
  let bytes = 0
  for (const u of updates) {
    bytes += u.data.length
    const v = volumes[u.volume]
    if (v) {
      v.updates++
      v.firstBlock = Math.min(v.firstBlock, u.block)
      v.lastBlock = Math.max(v.lastBlock, u.block)
    } else {
      volumes[u.volume] = { updates: 1, firstBlock: u.block, lastBlock: u.block }
    }
  }
  return {
    updates: updates.length,
    bytes,
    volumes,
    sha256: digest(updates.map((u) => u.data)),
    ...(eachUpdate
      ? {
          list: updates.map((u) => ({
            ...(u.controller !== undefined ? { controller: u.controller } : {}),
            seq: u.seq,
            time: u.time,
            volume: u.volume,
            block: u.block,
            bytes: u.data.length,
            sha256: digest([u.data]),
          })),
        }
      : {}),
  }
}

/** A record set (updates topic) for the audit line. */
export function summarizeRecordSet(value: Record<string, unknown>, eachUpdate: boolean): Record<string, unknown> {
  const { updates, ...header } = value
  return { ...header, ...summarizeUpdates((updates as DecodedUpdate[] | undefined) ?? [], eachUpdate) }
}

/** A whole group (journal parts joined) for the audit line. */
export function summarizeGroup(
  group: { session: string; groupSeq: number; groupTime: number; updates: DecodedUpdate[]; controllers: unknown[] },
  parts: number,
  eachUpdate: boolean,
): Record<string, unknown> {
  return {
    session: group.session,
    groupSeq: group.groupSeq,
    groupTime: group.groupTime,
    parts,
    ...summarizeUpdates(group.updates, eachUpdate),
    controllers: group.controllers,
  }
}
