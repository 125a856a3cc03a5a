/**
 * Backpressure of the updates partitions, pure: a partition whose buffered
 * bytes pass mover.maxBufferedBytes is paused, and resumed once groups
 * drained it to half the bound or less, so it does not flap at the edge. A
 * frozen partition stays paused whatever it holds (its controller waits for
 * an operator). Memory therefore stays under the bound plus one fetch per
 * partition however large the backlog.
 */
export class Backpressure {
  readonly #paused = new Set<number>()

  constructor(readonly maxBufferedBytes: number) {}

  /** After a batch of `partition` was taken: true when the partition must be paused now (it was not before). */
  afterBatch(partition: number, bufferedBytes: number): boolean {
    if (bufferedBytes <= this.maxBufferedBytes || this.#paused.has(partition)) return false
    this.#paused.add(partition)
    return true
  }

  /** After a group was journaled: the paused partitions to resume now, ascending insertion order. */
  afterDrain(bufferedBytes: (partition: number) => number, isFrozen: (partition: number) => boolean): number[] {
    const ready = [...this.#paused].filter((p) => bufferedBytes(p) <= this.maxBufferedBytes / 2 && !isFrozen(p))
    for (const p of ready) this.#paused.delete(p)
    return ready
  }

  /** Partitions paused for a full buffer (not counting frozen ones). */
  paused(): number[] {
    return [...this.#paused]
  }

  get size(): number {
    return this.#paused.size
  }
}
