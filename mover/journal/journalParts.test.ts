import { describe, expect, it } from 'vitest'
import type { JournalRecord } from '../../schemas/journal.js'
import fc from 'fast-check'
import { journalHeaders, parseOffsetsHeader } from './journalParts.js'

describe('journal headers', () => {
  it('carry the group fields as decimal strings (a marker is part 0 of 1)', () => {
    const marker: JournalRecord = {
      session: 'session-with-a-long-name-0123456789',
      groupSeq: 2 ** 40,
      groupTime: 1_700_000_000_000_000,
      part: 0,
      parts: 1,
      updates: [],
      controllers: [{ controller: 0, lastSeq: 4, lastTime: 9, resumeOffset: 3 }],
      ranges: [{ controller: 0, fromOffset: 1, toOffset: 3, firstSeq: 2, lastSeq: 4, setAside: [] }],
    }
    expect(journalHeaders(marker)).toEqual({
      'xrc.session': 'session-with-a-long-name-0123456789',
      'xrc.group-seq': String(2 ** 40),
      'xrc.group-time': '1700000000000000',
      'xrc.part': '0',
      'xrc.parts': '1',
      'xrc.resume-offsets': '0:3',
      'xrc.from-offsets': '0:1',
    })
  })

  it("carry every controller's resume offset, read back as they were", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ controller: fc.nat(4096), resumeOffset: fc.nat() }), {
          selector: (m) => m.controller,
          minLength: 1,
          maxLength: 64,
        }),
        (marks) => {
          const header = journalHeaders({
            session: 's',
            groupSeq: 1,
            groupTime: 1,
            part: 0,
            parts: 1,
            updates: [],
            controllers: marks.map((m) => ({ ...m, lastSeq: 0, lastTime: 0 })),
          })['xrc.resume-offsets']
          expect(parseOffsetsHeader(header)).toEqual(new Map(marks.map((m) => [m.controller, m.resumeOffset])))
        },
      ),
    )
  })

  it('reads no offsets from a header that is absent or malformed, none from an empty one', () => {
    expect(parseOffsetsHeader('')).toEqual(new Map())
    for (const bad of [undefined, '1', '1:', ':2', '1:2,', '1:-2', 'a:2', '1:2;3:4'])
      expect(parseOffsetsHeader(bad)).toBeUndefined()
  })
})
