/**
 * `xrc status` for one session, put together from what can be read:
 * Kafka (record headers and offsets), PostgreSQL (the secondary's control
 * row) and the services' own endpoints when they answer. Each source that
 * cannot be read is named in `unavailable` with the reason; the rest is
 * still reported.
 */
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import type { SnapshotSpace } from '../../applier/index.js'
import { drillView, type DrillView } from './drillView.js'
import { kafkaView, type KafkaView } from './kafkaView.js'
import { replicationView, type ReplicationView } from './replicationView.js'
import { secondaryView, type SecondaryView } from './secondaryView.js'
import { secondariesView, type SecondaryReport } from './secondariesView.js'
import type { NbdStatus } from '../../producer/index.js'
import type { PrimaryEndpoint } from '../primaryClient.js'
import { primaryNbd, primaryStatus, serviceHealth, type HealthBody, type Reached } from './serviceViews.js'
import type { RegistryConnection } from '../../schemas/registryClient.js'

export interface ControllerView {
  id: number
  /**
   * Latest time the controller reported (µs): its last record set or heartbeat, or the primary's own figure when
   * later.
   */
  latestTime: number | undefined
  lastRecord?: { offset: number; kind: string | undefined; lastSeq: number | undefined }
  /** Updates partition: end offset, the mover's resume offset, records not journaled yet. */
  endOffset?: number
  moverOffset?: number
  moverLag?: number
  /** From the primary's /v1/status, when it answers. */
  primary?: {
    nextSeq: number
    lastSentSeq: number
    sidefileEntries: number
    sidefileBytes: number
    waitingWriters: number
  }
}

export interface ServiceView {
  url: string
  reachable: boolean
  state?: string
  halt?: { code?: string; message: string }
  reason?: string
}

export interface SessionStatus {
  session: string
  at: string
  controllers: ControllerView[]
  /** The mover's consistency time: T of the last journaled group (µs). */
  consistencyTime: number | undefined
  journaledGroup: { seq: number; time: number; offset: number } | undefined
  appliedGroup: { seq: number; time: number; journalOffset: number; appliedAt: string | undefined } | undefined
  /** Wall clock minus the applied consistency time: what losing the primary now would lose, ms. */
  rpoMs: number | undefined
  journal: {
    topic: string
    endOffset: number | undefined
    lagGroups: number | undefined
    lagOffsets: number | undefined
    /**
     * The recovery window: the oldest retained group whose updates are all still on the updates topic (a replay
     * rebuilds from it); undefined when unknown.
     */
    recoverableFrom?: { seq: number; time: number; offset: number }
  }
  deadLetter: {
    topic: string
    records: number | undefined
    byCode?: Record<string, number>
    frozen?: { controller: number; offset: number; code: string }[]
  }
  secondary: {
    schema: string
    exists: boolean | undefined
    snapshots?: SnapshotSpace
    fenced?: SecondaryView['fenced']
  }
  /** The secondary's drills: the running one and the last one stopped (xrc drill). */
  drill?: DrillView
  /** The session topics' replication factor and under-replicated partitions; undefined without Kafka. */
  replication?: ReplicationView
  /**
   * Every secondary heard on the session's applied topic (several may follow one journal), as each last told the
   * primary, with the groups it is behind the journal; undefined when the topic could not be read.
   */
  secondaries?: (SecondaryReport & { lagGroups: number | undefined })[]
  services: { primary?: ServiceView; mover?: ServiceView; applier?: ServiceView }
  /** The primary's NBD front end (exports, connections, write rates), when its API answers. */
  nbd?: NbdStatus
  unavailable: string[]
}

export interface StatusSources {
  session: string
  schema: string
  /** Controller ids the config names for this session (undefined for sessions found only in Kafka). */
  controllerIds?: readonly number[]
  kafka: { kafka: KafkaClient; admin: KafkaAdmin } | { error: string }
  pool: Pool | { error: string }
  /** The primary's HTTP API, with its token. */
  primary?: PrimaryEndpoint
  moverUrl?: string
  applierUrl?: string
  /** The schema registry, to read the applied topic (every secondary heard); without it they are not listed. */
  registry?: RegistryConnection
  logger: Logger
}

export async function collectStatus(src: StatusSources): Promise<SessionStatus> {
  const unavailable: string[] = []
  // the secondary first, then the journal: a group is applied only after it was journaled, so read in this order
  // the status never shows the applied group ahead of the journaled one (read together, the applier could apply a
  // group between the journal's end offsets being taken and the control row being read)
  const s =
    'error' in src.pool
      ? undefined
      : await secondaryView(src.pool, src.schema, src.session).catch(
          (err: unknown) => void unavailable.push(`PostgreSQL: ${errorMessage(err)}`),
        )
  const drill =
    s?.exists === true && !('error' in src.pool)
      ? await drillView(src.pool, src.schema, src.session).catch(
          (err: unknown) => void unavailable.push(`drills: ${errorMessage(err)}`),
        )
      : undefined
  const [k, replication, primary, mover, applier, nbd, heard] = await Promise.all([
    'error' in src.kafka
      ? Promise.resolve(undefined)
      : kafkaView(src.kafka.kafka, src.kafka.admin, src.session, src.logger).catch(
          (err: unknown) => void unavailable.push(`Kafka: ${errorMessage(err)}`),
        ),
    'error' in src.kafka
      ? Promise.resolve(undefined)
      : replicationView(src.kafka.admin, src.session).catch(
          (err: unknown) => void unavailable.push(`Kafka replication: ${errorMessage(err)}`),
        ),
    src.primary ? primaryStatus(src.primary) : undefined,
    src.moverUrl ? serviceHealth(src.moverUrl) : undefined,
    src.applierUrl ? serviceHealth(src.applierUrl) : undefined,
    src.primary ? primaryNbd(src.primary) : undefined,
    heardSecondaries(src).catch((err: unknown) => void unavailable.push(`applied topic: ${errorMessage(err)}`)),
  ])
  if ('error' in src.kafka) unavailable.push(`Kafka: ${src.kafka.error}`)
  if ('error' in src.pool) unavailable.push(`PostgreSQL: ${src.pool.error}`)
  if (k) unavailable.push(...k.gaps.map((g) => `Kafka: ${g}`))
  if (s && !s.exists) unavailable.push(`secondary: no block store in schema ${s.schema} (no applier has run with it)`)

  const p = primary?.reachable && primary.body.session === src.session ? primary.body : undefined
  if (primary && !primary.reachable)
    unavailable.push(
      `primary: no answer at ${primary.url} (${primary.reason}); sidefile depth and next seqs need a ` +
        `running \`xrc primary\` (or --primary <url>)`,
    )
  if (primary?.reachable && primary.body.session !== src.session)
    unavailable.push(`primary: ${primary.url} runs session ${primary.body.session}, not ${src.session}`)
  if (!src.primary)
    unavailable.push('primary: its API address is unknown (producer.apiPort is 0): pass --primary <url>')
  for (const [name, url, r, setting] of [
    ['mover', src.moverUrl, mover, 'mover.metricsPort'],
    ['applier', src.applierUrl, applier, 'applier.metricsPort'],
  ] as const) {
    if (!url)
      unavailable.push(
        `${name}: its health endpoint is unknown (${setting} is 0): pass --${name} <url> to include its state`,
      )
    else if (r && !r.reachable) unavailable.push(`${name}: no answer at ${r.url} (${r.reason})`)
  }

  const controllers = controllerViews(src.controllerIds, k, p)
  const journaled = k?.journal.lastGroup
  const applied = s?.lastApplied
  return {
    session: src.session,
    at: new Date().toISOString(),
    controllers,
    consistencyTime: journaled?.time,
    journaledGroup: journaled && { seq: journaled.seq, time: journaled.time, offset: journaled.offset },
    appliedGroup: applied,
    rpoMs: applied ? Math.max(0, Math.round(Date.now() - applied.time / 1000)) : undefined,
    journal: {
      topic: k?.journal.topic ?? `xrc.${src.session}.journal`,
      endOffset: k?.journal.endOffset,
      lagGroups: journaled ? Math.max(0, journaled.seq - (applied?.seq ?? 0)) : undefined,
      lagOffsets: journaled ? Math.max(0, journaled.offset - (applied?.journalOffset ?? -1)) : undefined,
      ...(k?.journal.recoverableFrom ? { recoverableFrom: k.journal.recoverableFrom } : {}),
    },
    deadLetter: {
      topic: k?.deadLetter.topic ?? `xrc.${src.session}.dlq`,
      records: k?.deadLetter.records,
      ...(k?.deadLetter.byCode ? { byCode: k.deadLetter.byCode, frozen: k.deadLetter.frozen ?? [] } : {}),
    },
    secondary: {
      schema: src.schema,
      exists: s?.exists,
      ...(s?.snapshots ? { snapshots: s.snapshots } : {}),
      ...(s?.fenced ? { fenced: s.fenced } : {}),
    },
    ...(drill ? { drill } : {}),
    ...(replication ? { replication } : {}),
    ...(heard
      ? {
          secondaries: heard.map((r) => ({
            ...r,
            lagGroups: journaled ? Math.max(0, journaled.seq - r.groupSeq) : undefined,
          })),
        }
      : {}),
    services: {
      ...(primary ? { primary: serviceView(primary, p ? { state: p.state } : {}) } : {}),
      ...(mover ? { mover: healthView(mover) } : {}),
      ...(applier ? { applier: healthView(applier) } : {}),
    },
    ...(nbd?.reachable && p ? { nbd: nbd.body } : {}),
    unavailable,
  }
}

/** The secondaries the applied topic names (undefined without Kafka or the registry's address). */
async function heardSecondaries(src: StatusSources): Promise<SecondaryReport[] | undefined> {
  if ('error' in src.kafka || src.registry === undefined) return undefined
  const { kafka, admin } = src.kafka
  const existingTopics = new Set(await admin.listTopics())
  return secondariesView({
    kafka,
    existingTopics,
    session: src.session,
    registry: src.registry,
    logger: src.logger,
  })
}

function controllerViews(
  ids: readonly number[] | undefined,
  k: KafkaView | undefined,
  p:
    | {
        controllers: {
          id: number
          nextSeq: number
          latestTime: number
          lastSentSeq: number
          sidefile: { entries: number; bytes: number; waitingWriters: number }
        }[]
      }
    | undefined,
): ControllerView[] {
  const all = new Set<number>([
    ...(ids ?? []),
    ...(k?.updates.partitions.map((x) => x.partition) ?? []),
    ...(p?.controllers.map((c) => c.id) ?? []),
  ])
  // with a configured session, only its controllers (an updates topic may have spare partitions)
  const chosen = ids ? [...all].filter((id) => ids.includes(id)) : [...all]
  return chosen
    .sort((a, b) => a - b)
    .map((id) => {
      const part = k?.updates.partitions.find((x) => x.partition === id)
      const pc = p?.controllers.find((c) => c.id === id)
      const fromTopic = part?.last?.time
      const fromPrimary = pc && pc.latestTime > 0 ? pc.latestTime : undefined
      const latest =
        fromTopic === undefined ? fromPrimary : fromPrimary === undefined ? fromTopic : Math.max(fromTopic, fromPrimary)
      return {
        id,
        latestTime: latest,
        ...(part?.last
          ? { lastRecord: { offset: part.last.offset, kind: part.last.kind, lastSeq: part.last.lastSeq } }
          : {}),
        ...(part
          ? {
              endOffset: part.endOffset,
              ...(part.moverOffset !== undefined ? { moverOffset: part.moverOffset, moverLag: part.moverLag } : {}),
            }
          : {}),
        ...(pc
          ? {
              primary: {
                nextSeq: pc.nextSeq,
                lastSentSeq: pc.lastSentSeq,
                sidefileEntries: pc.sidefile.entries,
                sidefileBytes: pc.sidefile.bytes,
                waitingWriters: pc.sidefile.waitingWriters,
              },
            }
          : {}),
      }
    })
}

function serviceView<T>(r: Reached<T>, extra: Partial<ServiceView>): ServiceView {
  return r.reachable ? { url: r.url, reachable: true, ...extra } : { url: r.url, reachable: false, reason: r.reason }
}

function healthView(r: Reached<HealthBody>): ServiceView {
  if (!r.reachable) return { url: r.url, reachable: false, reason: r.reason }
  // a mover with a frozen controller runs but halts the session: its health says why in `reason`
  const frozen =
    r.body.halt === undefined && r.body.status === 'halted' && typeof r.body.reason === 'string'
      ? { code: 'XRC_CONTROLLER_FROZEN', message: r.body.reason }
      : undefined
  const halt = r.body.halt
    ? { ...(r.body.halt.code ? { code: r.body.halt.code } : {}), message: r.body.halt.message }
    : frozen
  return { url: r.url, reachable: true, state: r.body.state ?? r.body.status, ...(halt ? { halt } : {}) }
}

export type { SecondaryView }
