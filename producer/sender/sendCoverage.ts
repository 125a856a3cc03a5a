/**
 * What a produce call really wrote: the producer answers with the partitions
 * it shows written (lib/kafka/client: kafkajs 2.2's send() can resolve
 * without writing a partition after a leader moved), and the sender sends
 * the rest again.
 */

/** The batches whose partition is not among those written. */
export function unwrittenBatches<T extends { partition: number }>(
  batches: readonly T[],
  written: ReadonlySet<number>,
): T[] {
  return batches.filter((b) => !written.has(b.partition))
}
