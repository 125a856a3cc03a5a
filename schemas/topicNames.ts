/**
 * Topic, subject and header names of a session: the contract between the
 * producer, the mover, the applier and any Avro consumer that audits them.
 */
export interface SessionTopics {
  /** Record sets, one partition per controller (partition = controller id). */
  updates: string
  /** Consistency groups, one partition, transactional. */
  journal: string
  /** Records that could not be processed, with the reason in headers. */
  deadLetter: string
  /** Operator commands to the session's mover (JSON; see schemas/control.ts), one partition. */
  control: string
  /**
   * What each secondary tells the primary (schemas/appliedState.ts): its last
   * applied group and image state. One partition, compacted, key = the
   * secondary's name.
   */
  applied: string
}

export function sessionTopics(session: string): SessionTopics {
  return {
    updates: `xrc.${session}.updates`,
    journal: `xrc.${session}.journal`,
    deadLetter: `xrc.${session}.dlq`,
    control: `xrc.${session}.control`,
    applied: `xrc.${session}.applied`,
  }
}

/** Confluent TopicNameStrategy: the value subject of a topic. */
export function valueSubject(topic: string): string {
  return `${topic}-value`
}

/** The mover's transactional id: a second mover of the session fences the first. */
export function moverTransactionalId(session: string): string {
  return `xrc.${session}.mover`
}

/** The consumer group under which the mover commits its input offsets (sendOffsets). */
export function moverGroupId(session: string): string {
  return `xrc.${session}.mover`
}

/** Kafka record header names. Values are decimal strings (numbers) or plain strings. */
export const HEADERS = {
  session: 'xrc.session',
  controller: 'xrc.controller',
  kind: 'xrc.kind',
  firstSeq: 'xrc.first-seq',
  lastSeq: 'xrc.last-seq',
  minTime: 'xrc.min-time',
  maxTime: 'xrc.max-time',
  /** On a heartbeat that carries a resync window event: "<BEGIN|END>:<epoch>" (schemas/resyncWindow.ts). */
  window: 'xrc.window',
  groupSeq: 'xrc.group-seq',
  groupTime: 'xrc.group-time',
  part: 'xrc.part',
  parts: 'xrc.parts',
  /**
   * On a group's last journal record: per controller the updates-topic offset a mover resumes from
   * ("<controller>:<offset>,..."), so `xrc status` shows the mover's lag without decoding.
   */
  resumeOffsets: 'xrc.resume-offsets',
  /**
   * On a marker: per controller whose range reads something, the first updates-topic offset it reads
   * ("<controller>:<offset>,..."): `xrc status` finds the oldest group whose updates are still retained.
   */
  fromOffsets: 'xrc.from-offsets',
  // dead-letter records
  sourceTopic: 'xrc.dlq.topic',
  sourcePartition: 'xrc.dlq.partition',
  sourceOffset: 'xrc.dlq.offset',
  errorCode: 'xrc.dlq.error-code',
  errorMessage: 'xrc.dlq.error-message',
  /** What the mover did with a dead-lettered record: skipped, dropped or frozen (see mover/intake/deadLetters.ts). */
  deadLetterAction: 'xrc.dlq.action',
} as const
