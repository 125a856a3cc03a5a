import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { segmentCode } from '../../lib/segmentCodes.js'
import { generationAfterApply, mayValidate, segmentsWritten } from './validFlags.js'

const SEGMENT_BLOCKS = 4
const VOLUME_BLOCKS = 16
const BS = 2

/** The model: the secondary's blocks and, per segment, the code row (generation, valid, code). */
interface Model {
  blocks: Map<number, Buffer>
  rows: Map<number, { generation: number; valid: boolean; code?: string }>
  /** Recomputations in flight: what each read in its snapshot. */
  reads: { segment: number; generation: number; code: string }[]
}

function codeOf(m: Model, segment: number): string {
  const parts: Buffer[] = []
  for (let b = segment * SEGMENT_BLOCKS; b < (segment + 1) * SEGMENT_BLOCKS; b++)
    parts.push(m.blocks.get(b) ?? Buffer.alloc(BS))
  return segmentCode(Buffer.concat(parts))
}

type Step =
  | { kind: 'apply'; writes: { block: number; byte: number }[] }
  | { kind: 'read'; segment: number }
  | { kind: 'finish'; index: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('apply' as const),
    writes: fc.array(
      fc.record({ block: fc.integer({ min: 0, max: VOLUME_BLOCKS - 1 }), byte: fc.integer({ min: 0, max: 3 }) }),
      { minLength: 1, maxLength: 6 },
    ),
  }),
  fc.record({ kind: fc.constant('read' as const), segment: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('finish' as const), index: fc.nat() }),
)

function run(m: Model, s: Step): void {
  if (s.kind === 'apply') {
    for (const w of s.writes) m.blocks.set(w.block, Buffer.alloc(BS, w.byte))
    const { segments } = segmentsWritten(
      s.writes.map((w) => ({ volumeId: 1, block: w.block })),
      SEGMENT_BLOCKS,
    )
    for (const seg of segments) {
      const row = m.rows.get(seg)
      m.rows.set(seg, { ...row, generation: generationAfterApply(row?.generation), valid: false })
    }
  } else if (s.kind === 'read') {
    m.reads.push({ segment: s.segment, generation: m.rows.get(s.segment)?.generation ?? 0, code: codeOf(m, s.segment) })
  } else if (m.reads.length > 0) {
    const [read] = m.reads.splice(s.index % m.reads.length, 1)
    if (read === undefined) return
    const row = m.rows.get(read.segment)
    if (mayValidate(read.generation, row?.generation))
      m.rows.set(read.segment, { generation: read.generation, valid: true, code: read.code })
  }
}

describe('valid flags', () => {
  it('a valid code equals the code of its segment, for any interleaving of applies and recomputations', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const m: Model = { blocks: new Map(), rows: new Map(), reads: [] }
        for (const s of steps) {
          run(m, s)
          for (const [seg, row] of m.rows) if (row.valid) expect(row.code).toBe(codeOf(m, seg))
        }
      }),
      { numRuns: 500 },
    )
  })

  it('validates a recomputation that no apply overtook, and a segment never written', () => {
    const m: Model = { blocks: new Map(), rows: new Map(), reads: [] }
    run(m, { kind: 'read', segment: 2 })
    run(m, { kind: 'finish', index: 0 })
    expect(m.rows.get(2)).toMatchObject({ valid: true, generation: 0 })
    run(m, { kind: 'apply', writes: [{ block: 9, byte: 1 }] })
    expect(m.rows.get(2)).toMatchObject({ valid: false, generation: 1 })
    run(m, { kind: 'read', segment: 2 })
    run(m, { kind: 'apply', writes: [{ block: 8, byte: 2 }] })
    run(m, { kind: 'finish', index: 0 })
    expect(m.rows.get(2)).toMatchObject({ valid: false, generation: 2 })
  })

  it('segmentsWritten lists each (volume, segment) once, ordered', () => {
    const rows = [
      { volumeId: 2, block: 5 },
      { volumeId: 1, block: 9 },
      { volumeId: 2, block: 4 },
      { volumeId: 1, block: 1 },
    ]
    expect(segmentsWritten(rows, 4)).toEqual({ volumeIds: [1, 1, 2], segments: [0, 2, 1] })
  })

  it('mayValidate: only at the generation read; a segment without a row is at generation 0', () => {
    expect(mayValidate(3, 3)).toBe(true)
    expect(mayValidate(3, 4)).toBe(false)
    expect(mayValidate(0, undefined)).toBe(true)
    expect(mayValidate(1, undefined)).toBe(false)
  })
})
