/**
 * How the CLI prints times, durations and sizes to people. Machine output
 * (--json) keeps raw numbers: times in session-clock microseconds since the
 * epoch, durations in milliseconds, sizes in bytes.
 */

/** A session-clock time (µs since the epoch) as ISO 8601 with microseconds, UTC. */
export function isoMicros(micros: number): string {
  const ms = Math.floor(micros / 1000)
  const rest = String(Math.floor(micros) % 1000).padStart(3, '0')
  return new Date(ms).toISOString().replace('Z', `${rest}Z`)
}

/** The time of day of a session-clock time, UTC, to the millisecond: 12:00:01.234 */
export function clockMicros(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(11, 23)
}

/** A duration for people: 840 ms, 1.25 s, 3 min 4 s. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  const abs = Math.abs(ms)
  if (abs < 1000) return `${Math.round(ms)} ms`
  if (abs < 60_000) return `${(ms / 1000).toFixed(abs < 10_000 ? 2 : 1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${s % 60} s`
}

/** A byte count for people: 512 B, 4.0 KiB, 1.5 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`
}

/** One JSON line (bigints as strings). */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}
