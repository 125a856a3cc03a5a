/**
 * One controller's updates read but not yet cut, in seq order, with the
 * partition offset of the record set each came from. Pure. Cutting takes
 * updates from the head only; the array is compacted now and then so it
 * does not keep drained record sets alive.
 */
import type { Update } from '../../schemas/recordSet.js'

interface Entry {
  offset: number
  updates: readonly Update[]
  /** Index of the first update not yet cut. */
  next: number
}

export class UpdateBuffer {
  #entries: Entry[] = []
  #head = 0
  #bytes = 0

  /** Block bytes buffered. */
  get bytes(): number {
    return this.#bytes
  }

  /** Appends the updates of the record set read at `offset`. */
  push(offset: number, updates: readonly Update[]): void {
    if (updates.length === 0) return
    this.#entries.push({ offset, updates, next: 0 })
    for (const u of updates) this.#bytes += u.data.length
  }

  /** The buffered updates, oldest first. */
  *pending(): Generator<Update> {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Entry
      for (let j = e.next; j < e.updates.length; j++) yield e.updates[j] as Update
    }
  }

  /** The buffered updates with the offset of each one's record set, oldest first. */
  *pendingWithOffsets(): Generator<{ offset: number; update: Update }> {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Entry
      for (let j = e.next; j < e.updates.length; j++) yield { offset: e.offset, update: e.updates[j] as Update }
    }
  }

  /** The oldest buffered update and the offset of its record set; undefined when empty. */
  first(): { offset: number; update: Update } | undefined {
    const entry = this.#entries[this.#head]
    return entry === undefined ? undefined : { offset: entry.offset, update: entry.updates[entry.next] as Update }
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
      for (let j = e.next; j < e.next + n; j++) this.#bytes -= (e.updates[j] as Update).data.length
      e.next += n
      left -= n
      if (e.next === e.updates.length) this.#head++
    }
    if (this.#head > 64 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head)
      this.#head = 0
    }
    return span
  }
}
