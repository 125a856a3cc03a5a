import { describe, expect, it } from 'vitest'
import { summarizeDeadLetters, type DeadLetterEntry } from '../../mover/index.js'
import { deadLettersJson, deadLettersText, resumeSentLine } from './session.js'

const entry = (over: Partial<DeadLetterEntry>): DeadLetterEntry => ({
  offset: 0,
  timestamp: '2026-01-01T00:00:00.000Z',
  sourceTopic: 'xrc.s.updates',
  sourcePartition: 1,
  sourceOffset: 10,
  code: 'XRC_SEQ_GAP',
  message: 'a gap',
  action: 'frozen',
  valueBytes: 0,
  controller: 1,
  ...over,
})

const entries = [
  entry({}),
  entry({ offset: 1, sourcePartition: 2, sourceOffset: 5, code: 'XRC_DECODE_FAILED', action: 'skipped' }),
]

describe('session command lines', () => {
  it('lists each dead letter, the counts by code, and how to resume each frozen controller', () => {
    expect(deadLettersText(entries, summarizeDeadLetters(entries), 'xrc.s.dlq')).toEqual([
      '2026-01-01T00:00:00.000Z partition 1 offset 10 frozen  XRC_SEQ_GAP: a gap',
      '2026-01-01T00:00:00.000Z partition 2 offset 5 skipped XRC_DECODE_FAILED: a gap',
      '2 records in xrc.s.dlq: XRC_SEQ_GAP 1, XRC_DECODE_FAILED 1',
      'controller 1 froze at offset 10 [XRC_SEQ_GAP]: `xrc session resume --controller 1` resumes it',
    ])
    expect(deadLettersText([], summarizeDeadLetters([]), 'xrc.s.dlq')).toEqual(['0 records in xrc.s.dlq'])
  })

  it('as JSON: one object per record, then the summary with the frozen controllers', () => {
    const lines = deadLettersJson(entries, summarizeDeadLetters(entries))
    expect(lines).toHaveLength(3)
    expect(JSON.parse(lines[0] as string)).toEqual(entries[0])
    expect(JSON.parse(lines[2] as string)).toEqual({
      summary: {
        records: 2,
        byCode: { XRC_SEQ_GAP: 1, XRC_DECODE_FAILED: 1 },
        byAction: { frozen: 1, skipped: 1 },
        frozen: [{ controller: 1, offset: 10, code: 'XRC_SEQ_GAP' }],
      },
    })
  })

  it('says where a resume command went', () => {
    const command = {
      command: 'resume' as const,
      session: 's',
      controller: 3,
      partition: 3,
      offset: 42,
      discardMissing: true,
      requestedAt: '2026-01-01T00:00:00.000Z',
      requestedBy: 'test',
    }
    expect(resumeSentLine(command)).toBe(
      'resume controller 3 at updates offset 42, discarding its missing seqs: sent to xrc.s.control',
    )
    expect(resumeSentLine({ ...command, discardMissing: false })).toBe(
      'resume controller 3 at updates offset 42: sent to xrc.s.control',
    )
  })
})
