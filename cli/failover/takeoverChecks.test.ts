import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { failbackRefusal, failoverRefusal, type FailbackFacts, type FailoverFacts } from './takeoverChecks.js'

const facts = fc.record<FailoverFacts>({
  session: fc.constantFrom('a', 'b'),
  newSession: fc.constantFrom('a', 'b', 'c'),
  primaryUrl: fc.constant('http://127.0.0.1:7070'),
  primaryAnswers: fc.boolean(),
  fencedBy: fc.option(fc.constantFrom('b', 'c', 'd'), { nil: undefined }),
  groupsNotApplied: fc.nat(5),
  waitedMs: fc.nat(60_000),
  targetInUse: fc.boolean(),
  targetDir: fc.constant('/data/c/primary'),
  force: fc.boolean(),
})

const reasonOf = (f: FailoverFacts): string | undefined =>
  (failoverRefusal(f)?.context as { reason?: string } | undefined)?.reason

describe('failoverRefusal', () => {
  it('lets a failover go on exactly when every precondition holds', () => {
    fc.assert(
      fc.property(facts, (f) => {
        const ok =
          f.session !== f.newSession &&
          (f.fencedBy === undefined || f.fencedBy === f.newSession) &&
          (!f.primaryAnswers || f.force) &&
          (f.groupsNotApplied === 0 || f.fencedBy !== undefined || f.force) &&
          !f.targetInUse
        expect(failoverRefusal(f) === undefined).toBe(ok)
      }),
    )
  })

  it('never lets --force override a takeover by another session or volumes a primary may have written', () => {
    fc.assert(
      fc.property(facts, (f) => {
        const forced = { ...f, force: true }
        if (f.fencedBy !== undefined && f.fencedBy !== f.newSession && f.session !== f.newSession)
          expect(reasonOf(forced)).toBe('fencedByOther')
        if (f.targetInUse) expect(failoverRefusal(forced)).toBeDefined()
      }),
    )
  })

  it('names the primary that still answers, and the groups not applied', () => {
    const base: FailoverFacts = {
      session: 'a',
      newSession: 'b',
      primaryUrl: 'http://127.0.0.1:7070',
      primaryAnswers: true,
      fencedBy: undefined,
      groupsNotApplied: 3,
      waitedMs: 30_000,
      targetInUse: false,
      targetDir: '/d',
      force: false,
    }
    const answers = failoverRefusal(base)
    expect(answers?.code).toBe('XRC_FAILOVER_REFUSED')
    expect(answers?.message).toMatch(/primary of session "a" still answers at http:\/\/127\.0\.0\.1:7070/)
    expect(failoverRefusal({ ...base, primaryAnswers: false })?.message).toMatch(/3 group\(s\) of session "a"/)
    expect(failoverRefusal({ ...base, primaryAnswers: false, fencedBy: 'b' })).toBeUndefined()
  })
})

describe('failbackRefusal', () => {
  const facts = fc.record<FailbackFacts>({
    session: fc.constant('b'),
    failoverRecord: fc.constant('/d/b/failover.json'),
    failedOver: fc.boolean(),
    originalSession: fc.constant('a'),
    originalPrimaryUrl: fc.option(fc.constant('http://127.0.0.1:7070'), { nil: undefined }),
    originalPrimaryAnswers: fc.boolean(),
    newSession: fc.constantFrom('a', 'b', 'c'),
    fencedBy: fc.option(fc.constantFrom('c', 'd'), { nil: undefined }),
    missingVolumes: fc.array(fc.record({ volume: fc.constant('v0'), file: fc.constant('/d/a/primary/v0.img') }), {
      maxLength: 2,
    }),
    targetInUse: fc.boolean(),
    targetDir: fc.constant('/d/c/primary'),
  })

  it('lets a failback go on exactly when every precondition holds', () => {
    fc.assert(
      fc.property(facts, (f) => {
        const ok =
          f.failedOver &&
          f.newSession === 'c' &&
          (f.fencedBy === undefined || f.fencedBy === 'c') &&
          !f.originalPrimaryAnswers &&
          f.missingVolumes.length === 0 &&
          !f.targetInUse
        expect(failbackRefusal(f) === undefined).toBe(ok)
      }),
    )
  })

  it('names the missing volume file', () => {
    const err = failbackRefusal({
      session: 'b',
      failoverRecord: '/d/b/failover.json',
      failedOver: true,
      originalSession: 'a',
      originalPrimaryUrl: undefined,
      originalPrimaryAnswers: false,
      newSession: 'c',
      fencedBy: undefined,
      missingVolumes: [{ volume: 'v0', file: '/d/a/primary/v0.img' }],
      targetInUse: false,
      targetDir: '/d/c/primary',
    })
    expect(err?.message).toMatch(/volume file \/d\/a\/primary\/v0\.img of volume "v0" is missing/)
  })
})
