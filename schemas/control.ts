/**
 * Operator commands to a session's mover, on the session's control topic
 * (`xrc.<session>.control`, one partition). JSON, so any Kafka tool can read
 * and audit them; the mover reads the topic from its start on every start,
 * so a decision outlives mover restarts.
 *
 * Layout of a value (UTF-8 JSON):
 *   { "command": "resume", "session", "controller", "partition", "offset",
 *     "discardMissing", "requestedAt" (ISO time), "requestedBy" }
 * key: "resume:<partition>:<offset>"
 *
 * A resume names the exact record its controller froze at (updates
 * partition and offset), so a command can never apply to another freeze
 * than the one the operator looked at, and a mover that meets the same
 * record again after a restart applies the same decision by itself.
 */
import { XrcError } from '../lib/errors.js'

/** Resume a controller the mover froze at (partition, offset). */
export interface ResumeCommand {
  command: 'resume'
  session: string
  controller: number
  /** The updates partition and offset of the record the controller froze at. */
  partition: number
  offset: number
  /**
   * false: the frozen record is set aside (it is in the dead-letter topic)
   * and the controller must go on at the seq it was expecting: for a record
   * that does not belong to the stream. true: the operator accepts that the
   * seqs missing before the controller's next record set are lost (they are
   * reported); a gap's record is then taken.
   */
  discardMissing: boolean
  requestedAt: string
  requestedBy: string
}

/** The Kafka key of a resume command: one decision per frozen record. */
export function resumeKey(partition: number, offset: number): string {
  return `resume:${partition}:${offset}`
}

export function encodeCommand(command: ResumeCommand): Buffer {
  return Buffer.from(JSON.stringify(command), 'utf8')
}

/** Decodes a control-topic value; throws XRC_DECODE_FAILED naming what is wrong. */
export function decodeCommand(value: Buffer | null, where: string): ResumeCommand {
  let parsed: unknown
  try {
    parsed = JSON.parse(value?.toString('utf8') ?? '')
  } catch {
    throw new XrcError('XRC_DECODE_FAILED', { reason: 'notJsonCommand', where })
  }
  const c = parsed as Partial<ResumeCommand>
  const isIndex = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0
  if (
    c.command !== 'resume' ||
    typeof c.session !== 'string' ||
    !isIndex(c.controller) ||
    !isIndex(c.partition) ||
    !isIndex(c.offset) ||
    typeof c.discardMissing !== 'boolean'
  ) {
    throw new XrcError('XRC_DECODE_FAILED', { reason: 'notResumeCommand', where })
  }
  return {
    command: 'resume',
    session: c.session,
    controller: c.controller,
    partition: c.partition,
    offset: c.offset,
    discardMissing: c.discardMissing,
    requestedAt: String(c.requestedAt ?? ''),
    requestedBy: String(c.requestedBy ?? ''),
  }
}
