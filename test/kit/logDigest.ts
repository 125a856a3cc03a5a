/**
 * Service logs made short enough to travel in a failure's text: CI keeps
 * only its output, and only its last part, so a failed run must say in a
 * few kilobytes what each process did last. A pino JSON line becomes one
 * line of time, level, component, message, error and the other fields
 * (pid, hostname, process name, session and stacks left out); lines in a row with
 * the same level, component and message are counted into the first.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
}
const LEFT_OUT = new Set(['level', 'time', 'pid', 'hostname', 'name', 'session', 'msg', 'component', 'err', 'stack'])

/** One log line, short. */
export interface ShortLine {
  /** HH:MM:SS.mmm (UTC), or '' for a line that is not pino JSON. */
  time: string
  level: number
  /** What repeats count on: level, component and message. */
  key: string
  text: string
}

/** `12:00:20.562 ERROR mover: msg err=XrcError: ... key=value`; a line that is not JSON stays as it is. */
export function shortLine(line: string, maxChars = 300): ShortLine {
  let entry: unknown
  try {
    entry = JSON.parse(line)
  } catch {
    entry = undefined
  }
  if (typeof entry !== 'object' || entry === null) return { time: '', level: 0, key: line, text: clip(line, maxChars) }
  const e = entry as Record<string, unknown>
  const time = typeof e.time === 'number' ? new Date(e.time).toISOString().slice(11, 23) : ''
  const level = Number(e.level ?? 0)
  const head = `${LEVEL_NAMES[level] ?? String(e.level)} ${String(e.component ?? e.name ?? '?')}: ${String(e.msg ?? '')}`
  const err = e.err as { type?: string; message?: string } | undefined
  const errText = err === undefined ? '' : ` err=${err.type ?? 'Error'}: ${err.message ?? ''}`
  const fields = Object.entries(e)
    .filter(([k]) => !LEFT_OUT.has(k))
    .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('')
  // one line: a message or field with line breaks (a stack kafkajs logs) is joined with ' | '
  const text = `${time} ${head}${errText}${fields}`.replace(/\s*\n\s*/g, ' | ')
  return { time, level, key: head, text: clip(text, maxChars) }
}

/** Lines in a row with the same key become the first of them, with `(x5 to 12:00:25.621)`. */
export function collapseRepeats(lines: readonly ShortLine[]): string[] {
  const out: string[] = []
  for (let i = 0; i < lines.length;) {
    const first = lines[i] as ShortLine
    let j = i + 1
    while (j < lines.length && (lines[j] as ShortLine).key === first.key) j++
    const last = lines[j - 1] as ShortLine
    out.push(j - i > 1 ? `${first.text} (x${j - i} to ${last.time})` : first.text)
    i = j
  }
  return out
}

/** The last `count` lines of a log's text, short. */
export function shortTail(text: string, count = 20): string {
  return collapseRepeats(splitLines(text).map((l) => shortLine(l)))
    .slice(-count)
    .join('\n')
}

/**
 * Per service log (`*.log` in `dir`) of a failed run: its last warnings and errors (pino level 40 and up), then its
 * last lines, short.
 */
export function logDigest(dir: string, warnings = 10, last = 6): string {
  const parts: string[] = []
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
    const lines = splitLines(readFileSync(join(dir, f), 'utf8')).map((l) => shortLine(l))
    const loud = collapseRepeats(lines.filter((l) => l.level >= 40)).slice(-warnings)
    const tail = collapseRepeats(lines.slice(-last)).filter((l) => !loud.includes(l))
    parts.push(`--- ${f}: ${lines.length} lines; last warnings and errors, then last lines`, ...loud, '...', ...tail)
  }
  return parts.join('\n')
}

function splitLines(text: string): string[] {
  const trimmed = text.trimEnd()
  return trimmed === '' ? [] : trimmed.split('\n')
}

function clip(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text
}
