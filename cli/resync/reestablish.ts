/**
 * Re-establishing the mirror after the journal or the updates topic was
 * lost (deleted, or retention passed), for `xrc resync`:
 *
 *   1. the mover and the applier must be stopped (checked: the applier's
 *      PostgreSQL connections, the mover's reader groups);
 *   2. each primary suspends with nothing assumed on the secondary and marks
 *      for resync every block its change generations name: the blocks
 *      written since the secondary's last confirmed consistency time;
 *   3. what is left of the session's Kafka side (updates, journal and
 *      control topics, the mover's offsets) is deleted and the topics made
 *      again, so the mover starts a new journal from group 1;
 *   4. the secondary is rebased (applier/resync/resyncImage.ts): its control row
 *      starts from group 0, it keeps its image, and it is marked
 *      inconsistent, falling back on the group it held, until the resync
 *      that rebuilds the lost changes is applied (the applier says so on
 *      the applied topic when it starts again; the primaries, rebased,
 *      discard nothing before a group of the new journal is applied);
 *   5. each primary resumes: only the marked blocks are copied.
 */
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { storeTables } from '../../applier/index.js'
import { rebaseSecondary, type RebaseResult } from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { ensureTopic, journalTopicSpec, updatesTopicSpec } from '../../lib/kafka/index.js'
import { moverGroupId, sessionTopics } from '../../schemas/topicNames.js'
import type { PrimaryEndpoint } from '../primaryClient.js'
import { rebasePrimary, resumePrimary } from './primaryApi.js'

/** Throws XRC_SERVICE_RUNNING when the session's applier is running, or (given a connected admin) its mover. */
export async function checkServicesStopped(pool: Pool, session: string, admin?: KafkaAdmin): Promise<void> {
  const applier = await pool.query<{ n: bigint }>(
    'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
    [`xrc-applier-${session}`],
  )
  if (Number(applier.rows[0]?.n ?? 0) > 0) throw new XrcError('XRC_SERVICE_RUNNING', { reason: 'applier', session })
  if (admin === undefined) return
  const prefix = `${moverGroupId(session)}.reader.`
  const readers = (await admin.listGroups()).filter((id) => id.startsWith(prefix))
  if (readers.length === 0) return
  const described = await admin.describeGroups(readers)
  const live = described.filter((g) => g.state !== 'Empty' && g.state !== 'Dead' && g.members > 0)
  if (live.length > 0) {
    throw new XrcError('XRC_SERVICE_RUNNING', { reason: 'mover', session, groupId: live[0]?.groupId ?? '' })
  }
}

export interface ReestablishResult {
  /** Blocks marked for resync on all primaries, and the blocks of their volumes. */
  blocks: number
  volumeBlocks: number
  /** The group the secondary held when it was rebased. */
  secondary: RebaseResult
}

/** Steps 1-5 of the file comment; returns once every primary resumed (the resync runs on). */
export async function reestablish(options: {
  config: Config
  kafka: KafkaClient
  pool: Pool
  primaries: readonly PrimaryEndpoint[]
  logger: Logger
  say: (line: string) => void
}): Promise<ReestablishResult> {
  const { config, kafka, pool, say } = options
  const session = config.session.name
  const topics = sessionTopics(session)
  const admin = kafka.admin()
  await admin.connect()
  try {
    await checkServicesStopped(pool, session, admin)
    let blocks = 0
    let volumeBlocks = 0
    for (const primary of options.primaries) {
      const r = await rebasePrimary(primary)
      blocks += r.blocks
      volumeBlocks += r.volumeBlocks
      say(`${primary.url}: suspended; ${r.blocks} blocks marked for resync (of ${r.volumeBlocks} in its volumes)`)
    }
    const existing = new Set(await admin.listTopics())
    const lost = [topics.updates, topics.journal, topics.control].filter((t) => existing.has(t))
    if (lost.length > 0) await admin.deleteTopics({ topics: lost })
    // none, when its offsets went with a lost topic
    await admin.deleteGroups([moverGroupId(session)]).catch(() => undefined)
    say(`deleted what was left of the session in Kafka: ${lost.length > 0 ? lost.join(', ') : 'nothing'}`)
    const secondary = await rebaseSecondary(
      pool,
      storeTables(config.applier.schema),
      config.applier.schema,
      session,
      config.session.controllers.map((c) => c.id),
    )
    say(`secondary rebased: it keeps its image of group ${secondary.groupSeq} and takes a new journal from group 1`)
    const partitions = Math.max(...config.session.controllers.map((c) => c.id)) + 1
    // a topic just deleted cannot be made again until the broker has finished deleting it
    for (const spec of [
      updatesTopicSpec(topics.updates, partitions, config.mover.maxRecordSetBytes),
      journalTopicSpec(topics.journal, config.mover.journalRecordMaxBytes),
    ]) {
      await waitFor(
        `the ${spec.role} ${spec.topic} made again`,
        () => ensureTopic(admin, spec, options.logger, config.topics).then(() => true),
        { timeoutMs: 60_000, intervalMs: 500 },
      )
    }
    for (const primary of options.primaries) await resumePrimary(primary)
    return { blocks, volumeBlocks, secondary }
  } finally {
    await admin.disconnect()
  }
}
