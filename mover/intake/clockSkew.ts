/**
 * The skew between the controllers' clocks, as the mover sees it (pure).
 *
 * A session's controllers time-stamp writes from the session clock; when
 * they run in several primaries, on several hosts, each reads its own wall
 * clock. A consistency group is only crash-consistent if a write that
 * depends on another (issued after the other was acknowledged) has a later
 * time, and a controller whose clock lags breaks that across controllers
 * (one that leads holds every group back by its lead). Nothing in the
 * stream proves the clocks agree, but the mover, one process with one
 * clock, can estimate each controller's offset from its own:
 *
 *   sample = when the primary sent the record set, by its wall clock (the
 *            Kafka record's CreateTime, set by the producer client: the
 *            clock the session clock reads), less the mover's time when
 *            it read it
 *          = offset - delay      (delay: Kafka and the read; >= 0)
 *
 * The send time rather than the record set's own times leaves out how long
 * the primary held the writes (sidefile, batching) before sending them.
 * (A topic set to LogAppendTime would carry the broker's clock instead: the
 * check would then see no skew.)
 *
 * so the greatest sample over a window is the offset less the window's
 * smallest delay. Only records read at the end of their partition count (a
 * backlog is old, not skewed), each controller's estimate is its greatest
 * sample over the last one to two windows, and the skew is the greatest
 * estimate less the smallest, over the controllers heard in that time.
 *
 * A skew above the bound must last `sustainUs` before it counts: a delay
 * that passes (a leader moving, a primary that was stopped sending its
 * backlog) lowers one controller's samples for a moment, not for long.
 */

export interface ClockSkewOptions {
  /** Skew above which the session must not go on, microseconds. */
  maxSkewUs: number
  /** How long a window of samples lasts, microseconds (estimates cover one to two windows). */
  windowUs: number
  /** How long the skew must stay above the bound before it counts, microseconds. */
  sustainUs: number
}

/** What the samples say now. */
export interface SkewReading {
  /** Greatest estimate less the smallest, microseconds (0 with fewer than two controllers heard). */
  skewUs: number
  /** The controller whose clock leads the most, and the one that lags the most. */
  ahead: number
  behind: number
  /** Each controller's estimated offset from the mover's clock, microseconds. */
  offsets: ReadonlyMap<number, number>
}

/** The skew passed the bound and stayed above it for the sustain time. */
export interface SkewExceeded extends SkewReading {
  /** Since when (the mover's clock, microseconds) it has been above the bound. */
  sinceUs: number
}

interface Buckets {
  current: number | undefined
  previous: number | undefined
}

export class ClockSkew {
  readonly #o: ClockSkewOptions
  readonly #buckets = new Map<number, Buckets>()
  #windowStart: number | undefined
  #overSince: number | undefined

  constructor(options: ClockSkewOptions) {
    if (!(options.windowUs > 0 && options.sustainUs >= 0 && options.maxSkewUs > 0))
      throw new RangeError(`clock skew: bad options ${JSON.stringify(options)}`)
    this.#o = options
  }

  get maxSkewUs(): number {
    return this.#o.maxSkewUs
  }

  /** A record set of `controller` sent at `timeUs` (its clock), read at the end of its partition at `nowUs`. */
  sample(controller: number, timeUs: number, nowUs: number): void {
    this.#rotate(nowUs)
    const b = this.#buckets.get(controller) ?? { current: undefined, previous: undefined }
    const s = timeUs - nowUs
    b.current = b.current === undefined ? s : Math.max(b.current, s)
    this.#buckets.set(controller, b)
  }

  /** The estimates as of `nowUs`; undefined until a controller was heard. */
  reading(nowUs: number): SkewReading | undefined {
    this.#rotate(nowUs)
    const offsets = new Map<number, number>()
    for (const [c, b] of this.#buckets) {
      const est = maxOf(b.current, b.previous)
      if (est !== undefined) offsets.set(c, est)
    }
    if (offsets.size === 0) return undefined
    let ahead = -1
    let behind = -1
    for (const [c, o] of [...offsets].sort(([a], [b]) => a - b)) {
      if (ahead < 0 || o > (offsets.get(ahead) as number)) ahead = c
      if (behind < 0 || o < (offsets.get(behind) as number)) behind = c
    }
    const skewUs = (offsets.get(ahead) as number) - (offsets.get(behind) as number)
    return { skewUs, ahead, behind, offsets }
  }

  /** Whether the skew has been above the bound for the sustain time, as of `nowUs` (`r`: its reading, if made). */
  check(nowUs: number, r: SkewReading | undefined = this.reading(nowUs)): SkewExceeded | undefined {
    if (r === undefined || r.skewUs <= this.#o.maxSkewUs) {
      this.#overSince = undefined
      return undefined
    }
    this.#overSince ??= nowUs
    return nowUs - this.#overSince >= this.#o.sustainUs ? { ...r, sinceUs: this.#overSince } : undefined
  }

  /** Starts a new window when the current one has lasted `windowUs`; after two, nothing old is left. */
  #rotate(nowUs: number): void {
    if (this.#windowStart === undefined) {
      this.#windowStart = nowUs
      return
    }
    const elapsed = nowUs - this.#windowStart
    if (elapsed < this.#o.windowUs) return
    const shift = elapsed >= 2 * this.#o.windowUs ? 2 : 1
    for (const [c, b] of this.#buckets) {
      const next =
        shift === 2 ? { current: undefined, previous: undefined } : { current: undefined, previous: b.current }
      if (next.previous === undefined) this.#buckets.delete(c)
      else this.#buckets.set(c, next)
    }
    this.#windowStart = shift === 2 ? nowUs : this.#windowStart + this.#o.windowUs
  }
}

function maxOf(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return Math.max(a, b)
}
