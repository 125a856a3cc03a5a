/**
 * What a workload wrote, in program order per block: the ground truth a
 * checker compares the secondary against. A write is `acked` (the primary
 * acknowledged it, with its session-clock time), `indoubt` (the request
 * failed in a way that leaves open whether the primary took it: the
 * producer died mid-write), `refused` (certainly not taken: nothing
 * listened, or the primary answered with an error) or `pending`.
 */
import type { WriteDependency } from './blockContent.js'

export type WriteStatus = 'pending' | 'acked' | 'indoubt' | 'refused'

export interface WriteRecord {
  id: number
  volume: string
  block: number
  status: WriteStatus
  /** Session-clock time of the acknowledged write (µs). */
  time?: number
  dependsOn?: WriteDependency
}

export class WriteLog {
  private readonly byId = new Map<number, WriteRecord>()
  private readonly byBlock = new Map<string, WriteRecord[]>()
  private nextId = 1

  /** Registers a new write (ids increase, so later writes to a block have larger ids). */
  begin(volume: string, block: number, dependsOn?: WriteDependency): WriteRecord {
    const rec: WriteRecord = {
      id: this.nextId++,
      volume,
      block,
      status: 'pending',
      ...(dependsOn ? { dependsOn } : {}),
    }
    this.byId.set(rec.id, rec)
    const key = blockKey(volume, block)
    const list = this.byBlock.get(key)
    if (list) list.push(rec)
    else this.byBlock.set(key, [rec])
    return rec
  }

  ack(id: number, time: number): void {
    const rec = this.get(id)
    rec.status = 'acked'
    rec.time = time
  }

  inDoubt(id: number): void {
    this.get(id).status = 'indoubt'
  }

  refused(id: number): void {
    this.get(id).status = 'refused'
  }

  get(id: number): WriteRecord {
    const rec = this.byId.get(id)
    if (!rec) throw new Error(`unknown write id ${id}`)
    return rec
  }

  /** Writes to one block, in program order. */
  writesTo(volume: string, block: number): readonly WriteRecord[] {
    return this.byBlock.get(blockKey(volume, block)) ?? []
  }

  blocks(): IterableIterator<[string, WriteRecord[]]> {
    return this.byBlock.entries()
  }

  counts(): { total: number; acked: number; indoubt: number; refused: number; pending: number } {
    const c = { total: this.byId.size, acked: 0, indoubt: 0, refused: 0, pending: 0 }
    for (const r of this.byId.values()) c[r.status]++
    return c
  }

  /** Latest acknowledged time, or 0. */
  lastAckedTime(): number {
    let t = 0
    for (const r of this.byId.values()) if (r.status === 'acked' && r.time !== undefined && r.time > t) t = r.time
    return t
  }
}

export function blockKey(volume: string, block: number): string {
  return `${volume}/${block}`
}
