import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { MoverState, MoverStatus } from './moverApi.js'
import { moverHealth } from './moverHealth.js'

const OUTAGE = {
  source: 'registry' as const,
  since: '2026-01-01T00:00:00.000Z',
  retries: 12,
  reason: 'the schema registry unavailable for 40 s (12 attempts failed; retrying as long as it lasts): refused',
}

const status = (state: MoverState, halted: boolean, frozen: number, outage = false): MoverStatus => ({
  state,
  session: 's',
  groupSeq: 0,
  groupTime: undefined,
  consistencyTime: undefined,
  silentControllers: [],
  bufferedBytes: {},
  pausedPartitions: [],
  lag: {},
  groupsJournaled: 0,
  duplicateRecordSets: 0,
  startedFrom: undefined,
  frozen: Array.from({ length: frozen }, (_, i) => ({
    controller: i,
    partition: i,
    offset: 5,
    code: 'XRC_SEQUENCE_GAP' as const,
    message: 'seqs missing',
    expectedSeq: 3,
    takeable: true,
    since: '2026-01-01T00:00:00.000Z',
  })),
  deadLettered: {},
  discarded: [],
  ...(halted ? { halt: { code: 'XRC_FENCED' as const, message: 'taken over', context: {} } } : {}),
  ...(outage ? { outage: OUTAGE } : {}),
})

const states: MoverState[] = ['created', 'starting', 'running', 'recovering', 'halted', 'stopping', 'stopped']

describe('moverHealth', () => {
  it('is halted (503) with a reason for a halt or a frozen controller, else follows the state', () => {
    fc.assert(
      fc.property(fc.constantFrom(...states), fc.boolean(), fc.nat(2), (state, halted, frozen) => {
        const h = moverHealth(status(state, halted, frozen))
        if (halted) {
          expect(h.status).toBe('halted')
          expect(h.reason).toBe('XRC_FENCED: taken over')
        } else if (frozen > 0) {
          expect(h.status).toBe('halted')
          expect(h.reason).toContain('xrc session resume --controller 0')
        } else {
          expect(h.status).toBe(state === 'running' ? 'ok' : state === 'recovering' ? 'degraded' : 'starting')
          expect(h.reason).toBeUndefined()
        }
      }),
    )
  })

  it('is unavailable (503) with the reason while it rides out an outage, unless an operator must decide', () => {
    fc.assert(
      fc.property(fc.constantFrom(...states), fc.boolean(), fc.nat(2), (state, halted, frozen) => {
        const h = moverHealth(status(state, halted, frozen, true))
        if (halted || frozen > 0) expect(h.status).toBe('halted')
        else if (state === 'stopped') expect(h.status).not.toBe('unavailable')
        else expect(h).toMatchObject({ status: 'unavailable', reason: OUTAGE.reason })
      }),
    )
  })
})
