/**
 * A rate over the last few seconds (writes/s, bytes/s) for `xrc status`:
 * counts per whole second in a ring, the current second left out so a rate
 * read early in a second is not halved.
 */
export class RateMeter {
  private readonly counts: number[]
  private readonly seconds: number[]

  constructor(
    private readonly windowSeconds = 10,
    private readonly now: () => number = Date.now,
  ) {
    this.counts = new Array<number>(windowSeconds + 1).fill(0)
    this.seconds = new Array<number>(windowSeconds + 1).fill(-1)
  }

  add(amount = 1): void {
    const s = Math.floor(this.now() / 1000)
    const i = s % this.counts.length
    if (this.seconds[i] !== s) {
      this.seconds[i] = s
      this.counts[i] = 0
    }
    this.counts[i] = (this.counts[i] as number) + amount
  }

  /** Per second over the last `windowSeconds` whole seconds. */
  rate(): number {
    const current = Math.floor(this.now() / 1000)
    let sum = 0
    for (let i = 0; i < this.counts.length; i++) {
      const s = this.seconds[i] as number
      if (s < current && s >= current - this.windowSeconds) sum += this.counts[i] as number
    }
    return sum / this.windowSeconds
  }
}
