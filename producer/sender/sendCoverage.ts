/**
 * What a produce call really wrote. kafkajs 2.2's send() can resolve
 * without writing a partition: it keeps one response per broker across its
 * retries, so when a leader dies and the partition moves to a broker that
 * had already answered for another partition of the same call, the retry
 * skips that broker and the partition's records are never sent (seen on a
 * three-node cluster: a record set missing, the mover froze its controller
 * on the sequence gap; compare tulios/kafkajs#1798). The answer lists every
 * partition written, so the caller checks it and sends the rest again.
 */
import type { RecordMetadata } from 'kafkajs'

/** The batches whose partition the answer does not show written (errorCode 0) on `topic`. */
export function unwrittenBatches<T extends { partition: number }>(
  topic: string,
  batches: readonly T[],
  written: readonly RecordMetadata[],
): T[] {
  const done = new Set(written.filter((m) => m.topicName === topic && m.errorCode === 0).map((m) => m.partition))
  return batches.filter((b) => !done.has(b.partition))
}
