/**
 * The primary's link to the secondary's PostgreSQL schema, for two things:
 *
 * - Feedback for dynamic change management: the applier's committed
 *   consistency time, read from its control row (the row a group's own
 *   transaction updates, so it never claims more than the secondary holds).
 *   Polled rather than pushed through a Kafka topic: the feedback must
 *   survive exactly the failures it guards against (a lost journal or
 *   updates topic), and a missed or failed poll only delays discarding a
 *   generation, which is the safe direction.
 * - Resync epochs (applier/resync/resyncTables.ts): the primary records that a
 *   resync begins before any change made after the suspension enters the
 *   stream, so the applier knows, before it applies such a group, that the
 *   image it makes is inconsistent and which block versions to keep.
 *
 * One connection at most; errors go to the caller (the mirror retries).
 */
import { XrcError, errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { createPool, ident, type Pool } from '../../lib/postgres.js'
import {
  resyncDdl,
  resyncEndSql,
  resyncStartParams,
  resyncStartSql,
  schemaLockKey,
  type ResyncStart,
} from '../../applier/index.js'

export interface SecondaryLink {
  /** The consistency time of the last group the secondary applied; undefined when it has applied none (or has no store yet). */
  appliedTime(): Promise<number | undefined>
  /** Records that resync epochs begin. Throws XRC_POSTGRES_UNREACHABLE when the secondary cannot be told. */
  beginResync(rows: readonly ResyncStart[]): Promise<void>
  /** Records that every resync record of `epoch` of these controllers has a time below `endTime`. */
  endResync(controllers: readonly number[], epoch: number, endTime: number): Promise<void>
  close(): Promise<void>
}

export function createSecondaryLink(options: {
  url: string
  schema: string
  session: string
  logger: Logger
}): SecondaryLink {
  const { schema, session } = options
  let pool: Pool | undefined
  let ddlDone = false
  const connected = (): Pool =>
    (pool ??= createPool({
      url: options.url,
      logger: options.logger,
      max: 1,
      applicationName: `xrc-primary-${session}`,
    }))
  const unreachable = (what: string, err: unknown): XrcError =>
    new XrcError(
      'XRC_POSTGRES_UNREACHABLE',
      `could not ${what} in the secondary (schema "${schema}"): ${errorMessage(err)}`,
      { cause: err, context: { session } },
    )

  async function ensureTables(): Promise<void> {
    if (ddlDone) return
    const client = await connected().connect()
    try {
      await client.query('BEGIN')
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [schemaLockKey(schema)])
      for (const ddl of resyncDdl(schema)) await client.query(ddl)
      await client.query('COMMIT')
      ddlDone = true
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      client.release()
    }
  }

  return {
    async appliedTime() {
      const res = await connected().query<{ t: bigint | null }>(
        `SELECT group_time AS t FROM ${ident(schema)}.control WHERE session = $1`,
        [session],
      )
      const t = res.rows[0]?.t
      return t === undefined || t === null ? undefined : Number(t)
    },
    async beginResync(rows) {
      try {
        await ensureTables()
        await connected().query(resyncStartSql(schema), resyncStartParams(rows))
      } catch (err) {
        throw unreachable('record the resync start', err)
      }
    },
    async endResync(controllers, epoch, endTime) {
      try {
        await ensureTables()
        await connected().query(resyncEndSql(schema), [controllers, epoch, endTime])
      } catch (err) {
        throw unreachable('record the resync end', err)
      }
    },
    async close() {
      const p = pool
      pool = undefined
      await p?.end()
    },
  }
}
