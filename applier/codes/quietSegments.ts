/**
 * Which segments the code recomputer may hash now, pure. A segment that
 * groups keep writing has its code invalidated again before the recomputer
 * can set it (the generation it read has moved on: validFlags.mayValidate),
 * so hashing it is work the secondary's database does for nothing: under
 * 4 KiB random writes over one 64 MiB volume (the NBD bench), 55-60 % of the
 * segments the recomputer hashed lost their code before it was set.
 *
 * So a segment is handed out only once it has stayed at one generation for
 * `quietMs`: seen at generation g, and seen again at g at least `quietMs`
 * later. A segment without a row was never written by the applier: it is
 * quiet at once. Memory: one entry per invalid segment seen in the last
 * full scan (`endScan` forgets the rest).
 */
import type { SegmentKey } from './segmentCodeStore.js'
import { UNWRITTEN_GENERATION } from './validFlags.js'

export interface SegmentCandidate extends SegmentKey {
  /** The stored row's generation (UNWRITTEN_GENERATION without one). */
  generation: number
}

interface Seen {
  generation: number
  /** When this generation was first seen, ms. */
  since: number
  /** The scan that saw it last. */
  scan: number
}

export class QuietSegments {
  readonly #quietMs: number
  readonly #seen = new Map<string, Seen>()
  #scan = 0

  constructor(quietMs: number) {
    this.#quietMs = quietMs
  }

  /** Segments remembered (invalid ones seen in this scan or the last). */
  get size(): number {
    return this.#seen.size
  }

  /**
   * Of `candidates` (as read at `now`), those quiet for `quietMs`, in their
   * order, at most `limit`; notes the generation of the others.
   */
  pick(candidates: readonly SegmentCandidate[], now: number, limit: number): SegmentCandidate[] {
    const quiet: SegmentCandidate[] = []
    for (const c of candidates) {
      if (c.generation === UNWRITTEN_GENERATION) {
        if (quiet.length < limit) quiet.push(c)
        continue
      }
      const key = `${c.volumeId}:${c.segment}`
      const seen = this.#seen.get(key)
      if (seen === undefined || seen.generation !== c.generation) {
        this.#seen.set(key, { generation: c.generation, since: now, scan: this.#scan })
        continue
      }
      seen.scan = this.#scan
      if (quiet.length < limit && now - seen.since >= this.#quietMs) quiet.push(c)
    }
    return quiet
  }

  /** The recomputer hashed these (set valid or not): the next time they are invalid they start over. */
  done(segments: readonly SegmentCandidate[]): void {
    for (const s of segments) this.#seen.delete(`${s.volumeId}:${s.segment}`)
  }

  /** A scan of every invalid segment ended: forgets those it did not see (set valid, or gone). */
  endScan(): void {
    for (const [key, seen] of this.#seen) if (seen.scan !== this.#scan) this.#seen.delete(key)
    this.#scan++
  }
}
