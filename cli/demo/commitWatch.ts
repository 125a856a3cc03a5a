/**
 * When each group commits on the secondary, seen from outside the applier
 * (it runs in a process of its own): a loop reads the session's control
 * row (last applied group seq and time) every `intervalMs` on a connection
 * of its own, and reports each new group time with the moment the read
 * returned. A group is committed before any read can see it, so that
 * moment is never earlier than its commit and at most one interval plus
 * one query later: an RPO counted from it is never shorter than the true
 * one (by default 10 ms at most, plus the query, longer).
 */
import { storeTables } from '../../applier/index.js'
import type { Pool } from '../../lib/postgres.js'

/** The last group applied, as the control row says. */
export interface AppliedGroup {
  groupSeq: number
  /** Its consistency time, µs. */
  groupTime: number
}

export interface CommitWatch {
  /** The last applied group seen, if any. */
  last(): AppliedGroup | undefined
  /** Reads that failed (PostgreSQL unreachable, the schema not there yet). */
  readErrors(): number
  stop(): Promise<void>
}

export function watchCommits(options: {
  pool: Pool
  schema: string
  session: string
  intervalMs?: number
  /** A new group time was seen at `atMs` (performance.now()). */
  onCommitted: (group: AppliedGroup, atMs: number) => void
}): CommitWatch {
  const sql = `SELECT group_seq, group_time FROM ${storeTables(options.schema).control} WHERE session = $1`
  const intervalMs = options.intervalMs ?? 10
  let last: AppliedGroup | undefined
  let errors = 0
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let wake: (() => void) | undefined
  const loop = (async () => {
    while (!stopped) {
      const began = performance.now()
      try {
        const res = await options.pool.query<{ group_seq: string; group_time: string | null }>(sql, [options.session])
        const atMs = performance.now()
        const row = res.rows[0]
        if (row !== undefined && row.group_time !== null) {
          const seen = { groupSeq: Number(row.group_seq), groupTime: Number(row.group_time) }
          if (last === undefined || seen.groupSeq > last.groupSeq) {
            last = seen
            options.onCommitted(seen, atMs)
          }
        }
      } catch {
        errors++
      }
      const wait = Math.max(0, intervalMs - (performance.now() - began))
      await new Promise<void>((resolve) => {
        wake = resolve
        timer = setTimeout(resolve, wait)
      })
    }
  })()
  return {
    last: () => last,
    readErrors: () => errors,
    async stop() {
      stopped = true
      clearTimeout(timer)
      wake?.()
      await loop
    },
  }
}
