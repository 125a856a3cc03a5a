/**
 * The order of a controller's volume writes: per volume, each write waits
 * for the one stamped before it (whatever that one's outcome), so writes
 * reach a volume in time order, captured and marked alike. That is what
 * lets a resync read queued behind them hold exactly the writes stamped
 * before it.
 */
export class VolumeOrder {
  // per volume, the latest write queued, settled (never rejects)
  readonly #tails = new Map<string, Promise<void>>()

  /** Runs `apply` once `durable` resolved and the previous write to `volume` settled; its outcome is the result. */
  after(volume: string, durable: Promise<void>, apply: () => Promise<void>): Promise<void> {
    const done = this.tail(volume)
      .then(() => durable)
      .then(apply)
    const settle = (): void => undefined
    this.#tails.set(volume, done.then(settle, settle)) // the next write waits for this one, whatever its outcome
    return done
  }

  /** Settles once every write queued on `volume` so far settled. */
  tail(volume: string): Promise<void> {
    return this.#tails.get(volume) ?? Promise.resolve()
  }

  /** Settles once every write queued so far (on any volume) settled. */
  settled(): Promise<unknown> {
    return Promise.all(this.#tails.values())
  }
}
