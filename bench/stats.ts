/**
 * Summaries the report is made of: latency percentiles (HdrHistogram, 3
 * significant digits), medians across runs, ratios. Pure code.
 */
import hdr from 'hdr-histogram-js'

/** Percentiles of a set of delays, in milliseconds. */
export interface LatencySummary {
  count: number
  p50: number
  p99: number
  p999: number
  max: number
  /** Samples that could not be measured (NaN: the write failed or never reached the secondary). */
  missing: number
}

// one hour in µs: anything longer is a harness failure, not a latency
const HIGHEST_US = 3_600_000_000

/**
 * Percentiles of `delaysMs` (NaN samples are counted as missing, negative
 * ones, from clock granularity, as 0). Values are recorded in µs so sub-ms
 * write latencies keep their resolution.
 */
export function latencySummary(delaysMs: Float64Array | readonly number[]): LatencySummary {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
  })
  let missing = 0
  for (let i = 0; i < delaysMs.length; i++) {
    const v = delaysMs[i] as number
    if (Number.isNaN(v)) {
      missing++
      continue
    }
    h.recordValue(Math.min(HIGHEST_US, Math.max(0, Math.round(v * 1000))))
  }
  const ms = (us: number): number => round(us / 1000, 2)
  const count = h.totalCount
  const summary: LatencySummary =
    count === 0
      ? { count: 0, p50: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN, missing }
      : {
          count,
          p50: ms(h.getValueAtPercentile(50)),
          p99: ms(h.getValueAtPercentile(99)),
          p999: ms(h.getValueAtPercentile(99.9)),
          max: ms(h.maxValue),
          missing,
        }
  h.destroy()
  return summary
}

/** Element-wise differences `a[i] - b[i]` (NaN where either is NaN). */
export function differences(a: Float64Array, b: Float64Array | ((i: number) => number)): Float64Array {
  const out = new Float64Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) - (typeof b === 'function' ? b(i) : (b[i] as number))
  return out
}

/** The median of the finite values, or NaN when there is none. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((x, y) => x - y)
  if (v.length === 0) return Number.NaN
  const mid = v.length >> 1
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2
}

/** a / b, or NaN when either is not a finite number or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN
}

/** Rounds to `digits` decimals (NaN stays NaN). */
export function round(v: number, digits = 0): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

/** The parts one after another, in one array. */
export function concat(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
