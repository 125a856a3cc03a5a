/**
 * What `xrc replay` plans a recovery from (applier/recoveryPlan.ts): the
 * journal's reach read from Kafka (its newest group and the oldest group
 * whose updates are all retained, as `xrc status` reads them), the
 * snapshots of the source secondary, and a time target resolved to a group
 * through the source secondary's history of applied groups.
 */
import type { Config } from '../../lib/config.js'
import { connectAdmin, createKafkaClient } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import { createSnapshots, storeTables, type SnapshotInfo } from '../../applier/index.js'
import { XrcError } from '../../lib/errors.js'
import type { JournalReach, RecoveryTarget, SnapshotBase } from '../../applier/recoveryPlan.js'
import { kafkaView } from '../status/kafkaView.js'

/** The journal's newest group and oldest recoverable group; the view's gaps say what could not be read. */
export async function readJournalReach(
  config: Config,
  logger: Logger,
): Promise<{ reach: JournalReach; gaps: string[] }> {
  const kafka = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: `${config.kafka.clientId}-replay`,
    logger,
  })
  const admin = await connectAdmin(kafka)
  try {
    const view = await kafkaView(kafka, admin, config.session.name, logger)
    const { lastGroup, recoverableFrom } = view.journal
    return {
      reach: {
        newest: lastGroup && { seq: lastGroup.seq, time: lastGroup.time },
        recoverableFrom: recoverableFrom && { seq: recoverableFrom.seq, time: recoverableFrom.time },
      },
      gaps: view.gaps,
    }
  } finally {
    await admin.disconnect()
  }
}

/**
 * A time target as the group it names, when the source secondary's history
 * covers it: the last applied group with time <= T (group 0 when T is
 * before every group it applied). A time after its newest group stays a
 * time: the journal alone knows the groups after it.
 */
export async function resolveTarget(pool: Pool, sourceSchema: string, target: RecoveryTarget): Promise<RecoveryTarget> {
  if ('group' in target) return target
  const t = storeTables(sourceSchema)
  const exists = await pool.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [t.appliedGroups])
  if (!exists.rows[0]?.r) return target
  const res = await pool.query<{ at: string | null; newest: string | null; oldest: string | null }>(
    `SELECT (SELECT max(group_seq) FROM ${t.appliedGroups} WHERE group_time <= $1) AS at,
       (SELECT max(group_time) FROM ${t.appliedGroups}) AS newest,
       (SELECT min(group_seq) FROM ${t.appliedGroups}) AS oldest`,
    [target.time],
  )
  const row = res.rows[0]
  // the history must hold T's group: T within its times, and, before its first row, only when that row is group 1
  if (row?.newest == null || Number(row.newest) < target.time) return target
  if (row.at === null) return Number(row.oldest) === 1 ? { group: 0 } : target
  return { group: Number(row.at) }
}

/** The active snapshots of the source secondary, as replay bases (none when it holds no store yet). */
export async function snapshotBases(pool: Pool, config: Config, sourceSchema: string): Promise<SnapshotBase[]> {
  const snapshots = createSnapshots({ pool, schema: sourceSchema, session: config.session.name })
  let listed: SnapshotInfo[]
  try {
    listed = await snapshots.list()
  } catch (err) {
    if (err instanceof XrcError && err.code === 'XRC_NOT_FOUND') return []
    throw err
  }
  return listed.flatMap((s) =>
    s.state === 'active' && s.groupSeq !== undefined && s.groupTime !== undefined
      ? [{ name: s.name, groupSeq: s.groupSeq, groupTime: s.groupTime }]
      : [],
  )
}

/** Seeds the empty target schema with snapshot `name` of the source secondary (its image and control row). */
export async function seedFromSnapshot(
  pool: Pool,
  config: Config,
  source: string,
  name: string,
  target: string,
): Promise<void> {
  await createSnapshots({ pool, schema: source, session: config.session.name }).copyInto(name, target)
}
