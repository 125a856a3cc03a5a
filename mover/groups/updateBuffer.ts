/**
 * One controller's updates read but not yet cut, in seq order, with the
 * partition offset of the record set each came from. Pure. Cutting takes
 * updates from the head only; the array is compacted now and then so it
 * does not keep drained record sets alive. Updates are held as their
 * record sets' UpdateLists (schemas/updateList.ts): a walked record set
 * stays columns over its buffer, with no object per update.
 */
import type { Update } from '../../schemas/recordSet.js'
import { ArrayUpdates, ListedUpdate, type UpdateList } from '../../schemas/updateList.js'

interface Entry {
  offset: number
  updates: UpdateList
  /** Index of the first update not yet cut. */
  next: number
}

const DRAINED: UpdateList = new ArrayUpdates([])

export class UpdateBuffer {
  #entries: Entry[] = []
  #head = 0
  #bytes = 0

  /** Block bytes buffered. */
  get bytes(): number {
    return this.#bytes
  }

  /** Appends the updates of the record set read at `offset`, from its update `from` on. */
  push(offset: number, updates: readonly Update[] | UpdateList, from = 0): void {
    const list = Array.isArray(updates) ? new ArrayUpdates(updates as Update[]) : (updates as UpdateList)
    if (list.length <= from) return
    this.#entries.push({ offset, updates: list, next: from })
    for (let i = from; i < list.length; i++) this.#bytes += list.bytes(i)
  }

  /** The buffered updates, oldest first. */
  *pending(): Generator<Update> {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Entry
      for (let j = e.next; j < e.updates.length; j++) yield e.updates.update(j)
    }
  }

  /** The buffered updates with the offset of each one's record set, oldest first. */
  *pendingWithOffsets(): Generator<{ offset: number; update: Update }> {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Entry
      for (let j = e.next; j < e.updates.length; j++) yield { offset: e.offset, update: e.updates.update(j) }
    }
  }

  /**
   * Calls `take` with each buffered update with time <= `t`, oldest first (the updates themselves are read
   * from their list when asked: see ListedUpdate).
   */
  takeUpTo(t: number, take: (offset: number, update: Update, bytes: number) => void): void {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Entry
      const list = e.updates
      for (let j = e.next; j < list.length; j++) {
        if (list.time(j) > t) return
        take(e.offset, new ListedUpdate(list, j), list.bytes(j))
      }
    }
  }

  /** `sum` plus the bytes of the buffered updates with time <= `t`, oldest first, while it is below `limit`. */
  bytesUpTo(t: number, sum: number, limit: number): number {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Entry
      const list = e.updates
      for (let j = e.next; j < list.length; j++) {
        if (list.time(j) > t || sum >= limit) return sum
        sum += list.bytes(j)
      }
    }
    return sum
  }

  /** The oldest buffered update's seq and time and the offset of its record set; undefined when empty. */
  head(): { offset: number; seq: number; time: number } | undefined {
    const e = this.#entries[this.#head]
    return e === undefined ? undefined : { offset: e.offset, seq: e.updates.seq(e.next), time: e.updates.time(e.next) }
  }

  /** The oldest buffered update and the offset of its record set; undefined when empty. */
  first(): { offset: number; update: Update } | undefined {
    const e = this.#entries[this.#head]
    return e === undefined ? undefined : { offset: e.offset, update: e.updates.update(e.next) }
  }

  /**
   * Removes the `count` oldest updates (a cut took them). Returns the offsets of the first and the last
   * record set they came from; undefined when `count` is 0.
   */
  drop(count: number): { firstOffset: number; lastOffset: number } | undefined {
    let left = count
    let span: { firstOffset: number; lastOffset: number } | undefined
    while (left > 0) {
      const e = this.#entries[this.#head]
      if (e === undefined) throw new RangeError(`drop(${count}): only ${count - left} updates were buffered`)
      span = { firstOffset: span?.firstOffset ?? e.offset, lastOffset: e.offset }
      const n = Math.min(left, e.updates.length - e.next)
      for (let j = e.next; j < e.next + n; j++) this.#bytes -= e.updates.bytes(j)
      e.next += n
      left -= n
      if (e.next === e.updates.length) {
        // a drained record set's buffer is not kept alive until the next compaction
        e.updates = DRAINED
        e.next = 0
        this.#head++
      }
    }
    if (this.#head > 64 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head)
      this.#head = 0
    }
    return span
  }
}
