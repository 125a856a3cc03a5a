/**
 * What the intake does with a record it cannot take, pure: the rules of
 * updatesIntake.ts's header comment as a table. Nothing is skipped silently:
 * every record set aside goes to the dead-letter topic, and a record that
 * carries (or claims by its headers) the controller's next seqs freezes the
 * controller instead of being skipped, so its seqs are never lost unnoticed.
 */
import type { ReadRecord } from '../../lib/kafka/index.js'
import { isXrcError, type ErrorCode, type XrcError } from '../../lib/errors.js'
import { HEADERS } from '../../schemas/topicNames.js'
import type { DeadLetterAction } from './deadLetters.js'

/** What becomes of a record the intake cannot take. */
export type Disposition =
  /** Dead-lettered with this action and passed over: it held no seq the controller still needs. */
  | { kind: 'set-aside'; action: Exclude<DeadLetterAction, 'frozen'> }
  /**
   * Dead-lettered as frozen: the controller's stream is broken here (takeable:
   * the record itself can be taken once the missing seqs are discarded).
   */
  | { kind: 'freeze'; takeable: boolean }
  /** Not bad input: retriable trouble (restart) or a bug (halt). */
  | { kind: 'fail' }

/** Controller and seqs a record names. */
export interface ClaimedSeqs {
  controller: number
  firstSeq: number
  lastSeq: number
}

/** Codes that mean the record itself is bad (decodeRecordSet's): anything else is not the record's fault. */
const UNDECODABLE: readonly ErrorCode[] = ['XRC_DECODE_FAILED', 'XRC_INVALID_RECORD', 'XRC_RECORD_TOO_LARGE']

/**
 * For a record that did not decode: `claimsNext` says whether its headers
 * (or the body that disagreed with them) name the controller's next seqs.
 */
export function dispositionOfUndecodable(err: unknown, claimsNext: () => boolean): Disposition {
  if (!isXrcError(err) || !UNDECODABLE.includes(err.code)) return { kind: 'fail' }
  return claimsNext() ? { kind: 'freeze', takeable: false } : { kind: 'set-aside', action: 'skipped' }
}

/** For a record set the group former refused (`err`, see GroupFormer.add): `claimsNext` as above, from its body. */
export function dispositionOfRefused(err: unknown, claimsNext: () => boolean): Disposition {
  if (!isXrcError(err)) return { kind: 'fail' }
  switch (err.code) {
    case 'XRC_DUPLICATE_SEQUENCE':
      return { kind: 'set-aside', action: 'dropped' }
    case 'XRC_SEQUENCE_GAP':
      return { kind: 'freeze', takeable: true }
    case 'XRC_TIME_REGRESSION':
      return { kind: 'freeze', takeable: false }
    case 'XRC_INVALID_RECORD':
      // seqs already taken: a broken re-send
      return claimsNext() ? { kind: 'freeze', takeable: false } : { kind: 'set-aside', action: 'dropped' }
    default:
      return { kind: 'fail' }
  }
}

/**
 * Whether a record's seqs reach the controller's next seq (`expected`,
 * undefined before its first record set): only a record of the partition's
 * own controller, of a configured controller, can break its stream.
 */
export function claimsNextSeq(
  partition: number,
  seqs: ClaimedSeqs | undefined,
  controllers: readonly number[],
  expected: number | undefined,
): boolean {
  if (seqs === undefined || seqs.controller !== partition || !controllers.includes(partition)) return false
  return expected === undefined || seqs.lastSeq >= expected
}

/** Controller and seqs from a record's Kafka headers (the producer sets them), when all are there. */
export function headerSeqs(m: ReadRecord): ClaimedSeqs | undefined {
  const get = (name: string): number => Number(m.headers?.[name]?.toString() ?? Number.NaN)
  const controller = get(HEADERS.controller)
  const firstSeq = get(HEADERS.firstSeq)
  const lastSeq = get(HEADERS.lastSeq)
  return [controller, firstSeq, lastSeq].every(Number.isSafeInteger) ? { controller, firstSeq, lastSeq } : undefined
}

/**
 * Controller and seqs of a record set that decoded but disagrees with
 * its partition or headers (decodeRecordSet puts them in the context).
 */
export function decodedSeqs(err: XrcError): ClaimedSeqs | undefined {
  const { controller, firstSeq, lastSeq } = err.context
  return [controller, firstSeq, lastSeq].every((n) => typeof n === 'number' && Number.isSafeInteger(n))
    ? { controller: controller as number, firstSeq: firstSeq as number, lastSeq: lastSeq as number }
    : undefined
}
