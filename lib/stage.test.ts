import { describe, expect, it } from 'vitest'
import { XrcError } from './errors.js'
import {
  STOPPED,
  createStageEnding,
  endError,
  endOf,
  reportEnd,
  settleWithin,
  watchStages,
  type Stage,
} from './stage.js'

describe('stage ends', () => {
  it('an XrcError halts with its code; anything else is a failure', () => {
    const fenced = new XrcError('XRC_FENCED', 'taken over')
    expect(endOf(fenced)).toEqual({ outcome: 'halted', code: 'XRC_FENCED', error: fenced })
    const bug = new TypeError('x is undefined')
    expect(endOf(bug)).toEqual({ outcome: 'failed', error: bug })
    expect(endOf('a string')).toMatchObject({ outcome: 'failed', error: { message: 'a string' } })
  })

  it('the first end reported is the one done resolves with', async () => {
    const ending = createStageEnding()
    expect(ending.ended()).toBeUndefined()
    const halted = endOf(new XrcError('XRC_SEQUENCE_GAP', 'seq 7 missing'))
    expect(ending.end(halted)).toBe(true)
    expect(ending.end(STOPPED)).toBe(false)
    expect(await ending.done).toBe(halted)
    expect(ending.ended()).toBe(halted)
  })

  it('maps an end to an exit code and one line that names the code', () => {
    expect(reportEnd('mover', STOPPED)).toEqual({ exitCode: 0, level: 'info', message: 'mover: stopped' })
    expect(reportEnd('applier', { outcome: 'stopped', reason: 'finished' }).message).toBe('applier: finished')
    expect(reportEnd('mover', endOf(new XrcError('XRC_FENCED', 'taken over')))).toEqual({
      exitCode: 1,
      level: 'error',
      message: 'mover halted: taken over [XRC_FENCED]',
    })
    expect(reportEnd('primary', endOf(new RangeError('bad offset')))).toMatchObject({
      exitCode: 1,
      message: 'primary failed: bad offset [unexpected]',
    })
    const err = endError('applier', endOf(new XrcError('XRC_DECODE_FAILED', 'not Avro')))
    expect(err).toMatchObject({ code: 'XRC_SESSION_HALTED', message: 'applier halted: not Avro [XRC_DECODE_FAILED]' })
  })
})

describe('settleWithin', () => {
  it('says whether the work settled in time, and leaves it running otherwise', async () => {
    expect(await settleWithin(undefined, 0)).toBe(true)
    expect(await settleWithin(Promise.reject(new Error('no')), 1000)).toBe(true)
    let finish!: () => void
    const slow = new Promise<void>((resolve) => (finish = resolve))
    expect(await settleWithin(slow, 10)).toBe(false)
    finish()
    expect(await settleWithin(slow, 0)).toBe(true)
  })
})

describe('watchStages', () => {
  const stage = (name: Stage['name'], done: Promise<ReturnType<typeof endOf>>): Stage => ({
    name,
    stopBoundMs: 0,
    done,
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    status: () => ({}),
    health: () => ({ status: 'ok' }),
  })

  it('throws for the first stage that halted, and not for one that stopped', async () => {
    const halted = Promise.resolve(endOf(new XrcError('XRC_GROUP_OUT_OF_ORDER', 'group 4 after 6')))
    const watch = watchStages([stage('mover', Promise.resolve(STOPPED)), stage('applier', halted)])
    await halted
    await Promise.resolve()
    expect(() => watch.check()).toThrow('applier halted: group 4 after 6 [XRC_GROUP_OUT_OF_ORDER]')
    const quiet = watchStages([stage('mover', Promise.resolve(STOPPED))])
    await Promise.resolve()
    expect(() => quiet.check()).not.toThrow()
  })
})
