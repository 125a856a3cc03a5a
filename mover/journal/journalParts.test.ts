import { describe, expect, it } from 'vitest'
import type { JournalRecord } from '../../schemas/journal.js'
import { journalHeaders } from './journalParts.js'

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
    })
  })
})
