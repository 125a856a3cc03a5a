import avro from 'avsc'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import { JOURNAL_SCHEMA, type ConsistencyGroup, type JournalRecord } from '../../schemas/journal.js'
import { WIRE_HEADER_BYTES } from '../../schemas/codec.js'
import { journalHeaders, splitGroup } from './journalParts.js'

const type = avro.Type.forSchema(JOURNAL_SCHEMA as unknown as avro.Schema)
const encodedBytes = (r: JournalRecord): number => WIRE_HEADER_BYTES + type.toBuffer(r).length

const groupArb = fc.record({
  blockSize: fc.constantFrom(512, 4096, 65536),
  blocks: fc.nat(60),
  controllers: fc.integer({ min: 1, max: 40 }),
  bound: fc.integer({ min: 64 * 1024 + 1024, max: 400 * 1024 }),
  big: fc.boolean(),
  windows: fc.nat(40),
})

function groupOf(p: {
  blockSize: number
  blocks: number
  controllers: number
  big: boolean
  windows?: number
}): ConsistencyGroup {
  return {
    session: 'session-with-a-long-name-0123456789',
    groupSeq: 2 ** 40,
    groupTime: 1_700_000_000_000_000,
    updates: Array.from({ length: p.blocks }, (_, i) => ({
      controller: i % p.controllers,
      seq: 2 ** 45 + i,
      time: 1_700_000_000_000_000 - p.blocks + i,
      volume: `volume-${i % 7}-${'x'.repeat(40)}`,
      block: 2 ** 31 + i,
      data: Buffer.alloc(p.big ? p.blockSize : 512, i),
    })),
    controllers: Array.from({ length: p.controllers }, (_, c) => ({
      controller: c,
      lastSeq: 2 ** 50,
      lastTime: 1_700_000_000_000_000,
      resumeOffset: 2 ** 50,
    })),
    ...(p.windows
      ? {
          windows: Array.from({ length: p.windows }, (_, i) => ({
            controller: i % p.controllers,
            time: 1_700_000_000_000_000 - i,
            event: i % 2 === 0 ? ('BEGIN' as const) : ('END' as const),
            epoch: 2 ** 50,
            consistentUntil: 1_600_000_000_000_000,
            blocks: 2 ** 40,
            reason: 'k'.repeat(64),
          })),
        }
      : {}),
  }
}

describe('splitting a group into journal records', () => {
  it('every part fits the bound once encoded; the parts hold the updates in order; marks and windows on the last part only', () => {
    fc.assert(
      fc.property(groupArb, (p) => {
        const group = groupOf(p)
        const parts = splitGroup(group, p.bound)
        expect(parts.map((r) => r.part)).toEqual(parts.map((_, i) => i))
        for (const r of parts) {
          expect(r).toMatchObject({
            session: group.session,
            groupSeq: group.groupSeq,
            groupTime: group.groupTime,
            parts: parts.length,
          })
          expect(encodedBytes(r)).toBeLessThanOrEqual(p.bound)
          expect(r.controllers).toEqual(r.part === parts.length - 1 ? group.controllers : [])
          expect(r.windows).toEqual(r.part === parts.length - 1 ? (group.windows ?? []) : [])
        }
        expect(parts.flatMap((r) => r.updates)).toEqual(group.updates)
      }),
      { numRuns: 200 },
    )
  })

  it('an empty group is one part with the marks', () => {
    const parts = splitGroup(groupOf({ blockSize: 512, blocks: 0, controllers: 3, big: false }), 65536)
    expect(parts).toHaveLength(1)
    expect(parts[0]?.controllers).toHaveLength(3)
  })

  it('a group just over the bound gets two parts', () => {
    const group = groupOf({ blockSize: 4096, blocks: 20, controllers: 1, big: true })
    expect(splitGroup(group, 20 * 4096 + 64 * 1024).length).toBe(1)
    expect(splitGroup(group, 64 * 1024 + 1024).length).toBe(2)
  })

  it('refuses a block that cannot fit with XRC_RECORD_TOO_LARGE (config prevents it)', () => {
    const group = groupOf({ blockSize: 1 << 20, blocks: 1, controllers: 1, big: true })
    expect(() => splitGroup(group, 900 * 1024)).toThrow(XrcError)
    expect(() => splitGroup(group, 900 * 1024)).toThrow(/a block of 1048576 bytes does not fit/)
  })

  it('headers carry the group fields as decimal strings', () => {
    const [r] = splitGroup(groupOf({ blockSize: 512, blocks: 1, controllers: 1, big: false }), 65536)
    expect(journalHeaders(r as JournalRecord)).toEqual({
      'xrc.session': 'session-with-a-long-name-0123456789',
      'xrc.group-seq': String(2 ** 40),
      'xrc.group-time': '1700000000000000',
      'xrc.part': '0',
      'xrc.parts': '1',
    })
  })
})
