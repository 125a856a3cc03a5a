/**
 * Which segments a failback copies (US 7,877,628: the codes guide the copy).
 * A segment whose code differs between the site that runs (the source) and
 * the site coming back (the target) is copied; one with equal codes is not
 * (SHA-256: equal codes are equal bytes). While writes still go on at the
 * source, a differing segment written within the last moments is deferred:
 * it will likely change again, and the final pass, with writes quiesced,
 * copies it once. Pure.
 */

/** A source segment's code and the session time of its last write. */
export interface SourceCode {
  segment: number
  code: string
  lastWrite: number
}

export interface CopyPlan {
  /** Segments to copy now, ascending. */
  copy: number[]
  /** Differing segments left for a later pass (written after `hotSince`). */
  deferred: number[]
  /** Segments whose codes agree. */
  same: number
}

/**
 * The plan for one page of segments: `target` maps segment -> code (a
 * segment missing there differs). `hotSince` (session µs): a differing
 * segment written after it is deferred; undefined copies every difference.
 */
export function planSegmentCopy(
  source: readonly SourceCode[],
  target: ReadonlyMap<number, string>,
  hotSince?: number,
): CopyPlan {
  const plan: CopyPlan = { copy: [], deferred: [], same: 0 }
  for (const s of [...source].sort((a, b) => a.segment - b.segment)) {
    if (target.get(s.segment) === s.code) plan.same++
    else if (hotSince !== undefined && s.lastWrite > hotSince) plan.deferred.push(s.segment)
    else plan.copy.push(s.segment)
  }
  return plan
}

/** Bytes copied against a full copy, for the report. */
export interface CopyFigures {
  segments: number
  segmentsCopied: number
  bytesCopied: number
  fullCopyBytes: number
  /** bytesCopied / fullCopyBytes, 0..1 (and more when a segment was copied twice). */
  fraction: number
}

export function copyFigures(segments: number, segmentsCopied: number, bytesCopied: number, fullCopyBytes: number) {
  return {
    segments,
    segmentsCopied,
    bytesCopied,
    fullCopyBytes,
    fraction: fullCopyBytes > 0 ? bytesCopied / fullCopyBytes : 0,
  } satisfies CopyFigures
}
