/**
 * What the server counts per export for `xrc status` and the connection
 * gauge: connections in the transmission phase, writes acknowledged and
 * their bytes, and their rates over the last seconds (writeRate.ts). No I/O.
 */
import { RateMeter } from './writeRate.js'

/** The counted part of an export's status line. */
export interface ExportCounts {
  connections: number
  writes: number
  writeBytes: number
  writesPerSecond: number
  writeBytesPerSecond: number
}

export class ExportStats {
  #connections = 0
  #writes = 0
  #bytes = 0
  readonly #rate: RateMeter
  readonly #byteRate: RateMeter

  /** `now`: the clock of the rates (ms). */
  constructor(now: () => number = Date.now) {
    this.#rate = new RateMeter(10, now)
    this.#byteRate = new RateMeter(10, now)
  }

  /** Connections in the transmission phase with this export. */
  get connections(): number {
    return this.#connections
  }

  /** A connection entered the transmission phase with this export. */
  entered(): void {
    this.#connections++
  }

  /** A connection that had entered closed. */
  left(): void {
    this.#connections--
  }

  /** A write (or zeroing) of `bytes` was acknowledged. */
  written(bytes: number): void {
    this.#writes++
    this.#bytes += bytes
    this.#rate.add(1)
    this.#byteRate.add(bytes)
  }

  counts(): ExportCounts {
    return {
      connections: this.#connections,
      writes: this.#writes,
      writeBytes: this.#bytes,
      writesPerSecond: this.#rate.rate(),
      writeBytesPerSecond: this.#byteRate.rate(),
    }
  }
}
