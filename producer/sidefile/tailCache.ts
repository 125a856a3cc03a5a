/**
 * The newest durable entries of a sidefile, kept in memory so that the
 * sender reads back what was just written without a file read: the read
 * would copy the entry from the page cache again, and it queues on libuv's
 * thread pool behind the controllers' fdatasyncs. Pure.
 *
 * Entries are added in position order as they become durable; the oldest
 * leave first when the cache passes its byte bound, or when the sidefile
 * is trimmed past them. A read from a position the cache holds is served
 * from it, entry by entry, until the first position it does not hold; any
 * other read goes to the file as before. The payloads are the buffers the
 * sidefile wrote (built fresh for each entry and never changed afterwards).
 */
import type { SidefileEntry } from './sidefile.js'

export class TailCache {
  readonly #maxBytes: number
  /** Entries in position order: a window of consecutive entries. */
  #entries: SidefileEntry[] = []
  #head = 0
  #bytes = 0
  /** Position -> index in #entries. */
  readonly #at = new Map<number, number>()

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /** Bytes held (entry spans, headers included). */
  get bytes(): number {
    return this.#bytes
  }

  /** An entry became durable; it must follow the newest one held (else the window starts again from it). */
  add(entry: SidefileEntry): void {
    if (this.#maxBytes <= 0) return
    const newest = this.#entries[this.#entries.length - 1]
    if (newest !== undefined && this.#head < this.#entries.length && newest.end !== entry.position) this.clear()
    this.#at.set(entry.position, this.#entries.length)
    this.#entries.push(entry)
    this.#bytes += entry.end - entry.position
    while (this.#bytes > this.#maxBytes && this.#head < this.#entries.length) this.#dropOldest()
    this.#compact()
  }

  /**
   * The entries from `from` on, as many as the limits allow (at least one when `from` is held): undefined when
   * `from` is not held (read the file).
   */
  read(from: number, limits: { maxEntries: number; maxBytes: number }): SidefileEntry[] | undefined {
    const first = this.#at.get(from)
    if (first === undefined || first < this.#head) return undefined
    const out: SidefileEntry[] = []
    let bytes = 0
    for (let i = first; i < this.#entries.length && out.length < limits.maxEntries; i++) {
      const e = this.#entries[i] as SidefileEntry
      const size = e.end - e.position
      if (out.length > 0 && bytes + size > limits.maxBytes) break
      out.push(e)
      bytes += size
      if (bytes >= limits.maxBytes) break
    }
    return out
  }

  /** The sidefile released everything before `upTo`. */
  trim(upTo: number): void {
    while (this.#head < this.#entries.length && (this.#entries[this.#head] as SidefileEntry).end <= upTo)
      this.#dropOldest()
    this.#compact()
  }

  clear(): void {
    this.#entries = []
    this.#head = 0
    this.#bytes = 0
    this.#at.clear()
  }

  #dropOldest(): void {
    const e = this.#entries[this.#head] as SidefileEntry
    this.#at.delete(e.position)
    this.#bytes -= e.end - e.position
    this.#head++
  }

  /** Keeps the array from holding dropped entries forever (indexes in #at shift with it). */
  #compact(): void {
    if (this.#head < 1024 || this.#head * 2 < this.#entries.length) return
    this.#entries = this.#entries.slice(this.#head)
    this.#head = 0
    this.#at.clear()
    this.#entries.forEach((e, i) => this.#at.set(e.position, i))
  }
}
