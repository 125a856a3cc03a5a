/**
 * The recovery window's check (DESIGN.md invariant 8): the updates topic is
 * the journal's data, so it must keep every update at least as long as the
 * journal keeps the markers that name them. The mover and the applier call
 * `checkUpdatesRetention` at start-up and refuse to start when it fails.
 *
 * The rule (`retentionProblem`, pure), on each topic's effective
 * retention.ms and retention.bytes (-1, or absent, = unlimited):
 * - time: the updates topic's retention.ms must be unlimited or at least the
 *   journal's (a limit on the updates with none on the journal is refused);
 * - bytes: a byte limit on the updates topic is refused when the journal has
 *   none (the journal keeps markers longer than any byte limit), or when it
 *   is lower than the journal's. Both limits are per partition; an updates
 *   partition holds far more bytes per group than the journal, so a byte
 *   limit on the updates topic is best avoided altogether.
 * The first problem found is thrown as XRC_UPDATES_GONE reason 'retention',
 * naming both topics and both settings.
 */
import type { KafkaAdmin } from './client/index.js'
import { XrcError } from '../errors.js'

/** A topic's retention: milliseconds and bytes per partition; -1 = unlimited. */
export interface Retention {
  ms: number
  bytes: number
}

/** A retention that does not cover the journal's: which setting, and both values. */
export interface RetentionProblem {
  setting: 'retention.ms' | 'retention.bytes'
  /** The updates topic's value (-1 = unlimited). */
  updates: number
  /** The journal topic's value (-1 = unlimited). */
  journal: number
}

const unlimited = (v: number): boolean => v < 0

/** The rule of the module comment: undefined when the updates topic's retention covers the journal's. */
export function retentionProblem(updates: Retention, journal: Retention): RetentionProblem | undefined {
  if (!unlimited(updates.ms) && (unlimited(journal.ms) || updates.ms < journal.ms))
    return { setting: 'retention.ms', updates: updates.ms, journal: journal.ms }
  if (!unlimited(updates.bytes) && (unlimited(journal.bytes) || updates.bytes < journal.bytes))
    return { setting: 'retention.bytes', updates: updates.bytes, journal: journal.bytes }
  return undefined
}

/** The effective retention.ms and retention.bytes of each topic (broker defaults included). */
export async function describeRetention(admin: KafkaAdmin, topics: readonly string[]): Promise<Map<string, Retention>> {
  const described = await admin.topicConfigs(topics, ['retention.ms', 'retention.bytes'])
  const result = new Map<string, Retention>()
  for (const [topic, configs] of described) {
    const value = (name: string): number => {
      const v = configs.get(name)
      return v === undefined || v === '' ? -1 : Number(v)
    }
    result.set(topic, { ms: value('retention.ms'), bytes: value('retention.bytes') })
  }
  return result
}

/**
 * Refuses (XRC_UPDATES_GONE, reason 'retention') an updates topic whose
 * retention does not cover the journal topic's; both topics must exist.
 */
export async function checkUpdatesRetention(
  admin: KafkaAdmin,
  updatesTopic: string,
  journalTopic: string,
): Promise<void> {
  const retention = await describeRetention(admin, [updatesTopic, journalTopic])
  const updates = retention.get(updatesTopic) ?? { ms: -1, bytes: -1 }
  const journal = retention.get(journalTopic) ?? { ms: -1, bytes: -1 }
  const problem = retentionProblem(updates, journal)
  if (problem === undefined) return
  throw new XrcError('XRC_UPDATES_GONE', {
    reason: 'retention',
    topic: updatesTopic,
    updatesSetting: problem.setting,
    updates: String(problem.updates),
    journal: journalTopic,
    journalSetting: problem.setting,
    journalValue: String(problem.journal),
  })
}
