/**
 * What a fetch of one partition gives its reader, pure: the records at or
 * past the position asked for, with the transactions the broker says were
 * aborted left out (read_committed) and the control batches (commit and
 * abort markers) skipped, and the next offset to fetch. Kafka's Java
 * consumer reads the same way (Fetcher: aborted transactions by producer id
 * from their first offset until the producer's abort marker).
 *
 * The aborted transactions a broker lists are every one that overlaps the
 * fetched range, those that began before it too; so, as in the Java
 * consumer, each fetch is read with its own list and nothing is carried
 * from one fetch to the next (carried, a transaction listed again by the
 * next fetch, after its abort marker was read, would stay aborted and hide
 * the producer's next, committed, transaction).
 */

/** A record batch as a fetch response holds it (the fields used here). */
export interface FetchedBatch {
  firstOffset: bigint
  lastOffsetDelta: number
  firstTimestamp: bigint
  attributes: number
  producerId: bigint
  records: readonly FetchedRecord[]
}

export interface FetchedRecord {
  offsetDelta: number
  timestampDelta: bigint
  key: Buffer | null
  value: Buffer | null
  headers: readonly (readonly [Buffer | null, Buffer | null])[]
}

/** A record's headers: a header's value as the library gives it (a repeated header as a list). */
export type RecordHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>

/** A record handed to a reader's caller, whichever library read it. */
export interface ReadRecord {
  offset: string
  key: Buffer | null
  value: Buffer | null
  /** Epoch ms, decimal. */
  timestamp: string
  headers?: RecordHeaders
}

const TRANSACTIONAL = 0x10
const CONTROL = 0x20

/** Within one fetch of a partition: the producers whose transaction is aborted at the current batch. */
class AbortedTransactions {
  /** Aborted transactions the broker listed that the reader has not reached yet, by first offset. */
  readonly #pending: AbortedTransaction[]
  /** Producers inside an aborted transaction at the position. */
  readonly #open = new Set<bigint>()

  constructor(list: readonly AbortedTransaction[]) {
    this.#pending = [...list].sort((a, b) =>
      a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
    )
  }

  /** Whether `batch` (not a control batch) belongs to an aborted transaction. */
  aborts(batch: FetchedBatch): boolean {
    this.#reach(batch)
    return (batch.attributes & TRANSACTIONAL) !== 0 && this.#open.has(batch.producerId)
  }

  /** A control batch: an abort marker ends its producer's aborted transaction. */
  ended(batch: FetchedBatch): void {
    // the transactions begun up to the marker first (the Java consumer's consumeAbortedTransactionsUpTo)
    this.#reach(batch)
    const key = batch.records[0]?.key
    // the control record's key: version (int16), then type (int16): 0 abort, 1 commit
    if (key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0)
      this.#open.delete(batch.producerId)
  }

  /** The aborted transactions begun at or before `batch`'s last offset are open now. */
  #reach(batch: FetchedBatch): void {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta)
    while (this.#pending.length > 0 && (this.#pending[0] as AbortedTransaction).firstOffset <= last)
      this.#open.add((this.#pending.shift() as AbortedTransaction).producerId)
  }
}

/** An aborted transaction as a fetch response lists it. */
export interface AbortedTransaction {
  producerId: bigint
  firstOffset: bigint
}

/**
 * The records of one partition's fetched `batches` the reader takes, from `position` on, and the offset to fetch
 * next (past every batch seen, control and aborted ones included, so a reader at the end of a transactional topic
 * moves past its markers). `abortedList`: the response's aborted transactions of the partition (read_committed);
 * undefined reads every record (read_uncommitted).
 */
export function takeRecords(
  batches: readonly FetchedBatch[],
  position: bigint,
  abortedList: readonly AbortedTransaction[] | undefined,
): { records: ReadRecord[]; next: bigint } {
  const aborted = abortedList === undefined ? undefined : new AbortedTransactions(abortedList)
  const records: ReadRecord[] = []
  let next = position
  for (const batch of batches) {
    // every batch goes through the transactions' bookkeeping, those before the position too (a fetch answers whole
    // batches, from the one holding the position): a marker seen there still ends its transaction
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta)
    if (last + 1n > next) next = last + 1n
    if ((batch.attributes & CONTROL) !== 0) {
      aborted?.ended(batch)
      continue
    }
    if (aborted?.aborts(batch) === true || last < position) continue
    for (const r of batch.records) {
      const offset = batch.firstOffset + BigInt(r.offsetDelta)
      if (offset < position) continue
      const headers: Record<string, Buffer> = {}
      for (const [k, v] of r.headers) if (k !== null && v !== null) headers[k.toString('utf8')] = v
      records.push({
        offset: String(offset),
        key: r.key,
        value: r.value,
        timestamp: String(batch.firstTimestamp + r.timestampDelta),
        headers,
      })
    }
  }
  return { records, next }
}
