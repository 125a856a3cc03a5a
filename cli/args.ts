/**
 * Parsers for option values. Each throws commander's InvalidArgumentError,
 * which commander reports naming the option ("option '--duration <time>'
 * argument 'x' is invalid. ..."); cli/main.ts turns that into exit code 2.
 */
import { InvalidArgumentError } from 'commander'

/** An integer in [min, max]. */
export function integerArg(min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `expected an integer of at least ${min}.`
          : `expected an integer from ${min} to ${max}.`,
      )
    }
    return n
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }

/** A duration in milliseconds: `20` (seconds), `20s`, `1500ms`, `2m`, `1h`. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?$/.exec(value.trim())
  const ms = m ? Number(m[1]) * (DURATION_UNITS[m[2] ?? 's'] as number) : Number.NaN
  if (!Number.isFinite(ms) || ms <= 0) throw new InvalidArgumentError('expected a duration such as 20s, 1500ms or 2m.')
  return Math.round(ms)
}

/**
 * A point in time as session-clock microseconds since the epoch: the
 * microseconds xrc prints (16 digits), milliseconds (13 digits), or an ISO
 * 8601 date-time such as 2025-05-01T12:00:00.250Z.
 */
export function parseTime(value: string): number {
  const v = value.trim()
  if (/^\d+$/.test(v)) {
    const n = Number(v)
    if (Number.isSafeInteger(n) && n >= 1e15) return n
    if (Number.isSafeInteger(n) && n >= 1e12) return n * 1000
    throw new InvalidArgumentError(
      'a number must be microseconds (16 digits) or milliseconds (13 digits) since the epoch.',
    )
  }
  const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN
  if (Number.isNaN(ms))
    throw new InvalidArgumentError(
      'expected an ISO 8601 date-time (2025-05-01T12:00:00Z), or microseconds or milliseconds since the epoch.',
    )
  return ms * 1000
}

/** An http(s) base URL, without a trailing slash. */
export function parseUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError('expected a URL such as http://127.0.0.1:7070.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('expected an http:// or https:// URL.')
  return value.replace(/\/+$/, '')
}

/** A PostgreSQL schema name (lower-case identifier). */
export function parseSchemaName(value: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value))
    throw new InvalidArgumentError('expected a lower-case PostgreSQL identifier (letters, digits, _; at most 63).')
  return value
}
