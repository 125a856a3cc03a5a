/**
 * A lock over ranges of blocks of one volume, first come first served among
 * overlapping ranges: a holder waits for every earlier holder or waiter
 * whose range overlaps its own, and for nothing else. Ranges that do not
 * overlap run at once. A holder waits only on earlier entries, so there is
 * no deadlock.
 *
 * The NBD layer takes it around every write's read-modify-write, so that two
 * writes to one block never lose each other's bytes, and writes to the
 * same blocks reach the volume in the order the server received them.
 */
import { XrcError } from '../../lib/errors.js'

interface Entry {
  first: number
  last: number
  released: Promise<void>
}

export class BlockRangeLock {
  private readonly entries = new Set<Entry>()

  /** Holders and waiters now. */
  get size(): number {
    return this.entries.size
  }

  /** Resolves with the release function once `count` blocks from `first` are free of earlier overlapping entries. */
  async acquire(first: number, count: number): Promise<() => void> {
    const last = first + count - 1
    const earlier: Promise<void>[] = []
    for (const e of this.entries) if (e.first <= last && first <= e.last) earlier.push(e.released)
    let release!: () => void
    const entry: Entry = { first, last, released: new Promise<void>((resolve) => (release = resolve)) }
    this.entries.add(entry)
    if (earlier.length > 0) await Promise.all(earlier)
    let done = false
    return () => {
      if (done) throw new XrcError('XRC_USAGE', { reason: 'releasedTwice', first, last })
      done = true
      this.entries.delete(entry)
      release()
    }
  }

  /** Runs `fn` holding the range. */
  async hold<T>(first: number, count: number, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(first, count)
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
