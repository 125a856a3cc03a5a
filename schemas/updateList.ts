/**
 * A record set's updates read by index, whatever holds them: an array of
 * decoded Update objects (the avsc decode, tests) or the columns of a
 * zero-copy walk of the Avro body (schemas/recordSetWalk.ts), which keeps
 * no object per update and no copy of block data. The mover's checks and
 * group former read updates only through this, so both give the same
 * answers; `update(i)` makes an Update object for the few readers that
 * want one (a group's journal updates, on first read only).
 */
import type { RecordSet, Update } from './recordSet.js'

export interface UpdateList {
  readonly length: number
  seq(i: number): number
  time(i: number): number
  block(i: number): number
  volume(i: number): string
  /** Bytes of block data of update `i`. */
  bytes(i: number): number
  /** Block data of update `i` (a view, not a copy). */
  data(i: number): Buffer
  /** Update `i` as an object (its data a view, not a copy). */
  update(i: number): Update
}

/** A record set whose updates are an UpdateList: what the mover's checks and group former take. */
export type RecordSetView = Omit<RecordSet, 'updates'> & { readonly updates: UpdateList }

/** An UpdateList over decoded updates. */
export class ArrayUpdates implements UpdateList {
  constructor(readonly updates: readonly Update[]) {}
  get length(): number {
    return this.updates.length
  }
  seq(i: number): number {
    return (this.updates[i] as Update).seq
  }
  time(i: number): number {
    return (this.updates[i] as Update).time
  }
  block(i: number): number {
    return (this.updates[i] as Update).block
  }
  volume(i: number): string {
    return (this.updates[i] as Update).volume
  }
  bytes(i: number): number {
    return (this.updates[i] as Update).data.length
  }
  data(i: number): Buffer {
    return (this.updates[i] as Update).data
  }
  update(i: number): Update {
    return this.updates[i] as Update
  }
}

/**
 * Update `i` of a list, read from the list when asked (a group's taken writes: their seq and time are read,
 * their volume and data only when the group's journal updates are asked for).
 */
export class ListedUpdate implements Update {
  constructor(
    readonly list: UpdateList,
    readonly index: number,
  ) {}
  get seq(): number {
    return this.list.seq(this.index)
  }
  get time(): number {
    return this.list.time(this.index)
  }
  get volume(): string {
    return this.list.volume(this.index)
  }
  get block(): number {
    return this.list.block(this.index)
  }
  get data(): Buffer {
    return this.list.data(this.index)
  }
}

/** A decoded record set as a view (a walked one as it is). */
export function viewOf(rs: RecordSet | RecordSetView): RecordSetView {
  return Array.isArray(rs.updates)
    ? { ...rs, updates: new ArrayUpdates(rs.updates as Update[]) }
    : (rs as RecordSetView)
}

/** The Update objects of a list (tests, the decode-based reference). */
export function updatesOf(list: UpdateList): Update[] {
  const out: Update[] = []
  for (let i = 0; i < list.length; i++) out.push(list.update(i))
  return out
}
