import { describe, expect, it } from 'vitest'
import { CommitWaits, GroupLog, acknowledged } from './pipelineHarness.js'

const commit = (groupTime: number) => ({ groupSeq: groupTime, groupTime, commitMs: 1000 + groupTime, updates: 1 })

describe('acknowledged', () => {
  it('counts the writes with a time (a failed write has NaN) and finds the latest', () => {
    expect(acknowledged(Float64Array.from([3, Number.NaN, 7, 5]))).toEqual({ acked: 3, last: 7 })
    expect(acknowledged(Float64Array.from([Number.NaN]))).toEqual({ acked: 0, last: Number.NEGATIVE_INFINITY })
  })
})

describe('CommitWaits', () => {
  it('resolves at once for a time already committed, and when a later commit covers it', async () => {
    const groups = new GroupLog()
    const waits = new CommitWaits(groups)
    groups.add(commit(10))
    await waits.wait(10, 1000, () => undefined)
    const later = waits.wait(20, 60_000, () => undefined)
    groups.add(commit(15))
    waits.committed()
    groups.add(commit(25))
    waits.committed()
    await expect(later).resolves.toBeUndefined()
  })

  it('fails at once when a stage ended, and at the deadline otherwise', async () => {
    const waits = new CommitWaits(new GroupLog())
    await expect(waits.wait(5, 60_000, () => 'mover: halted')).rejects.toMatchObject({ code: 'XRC_SESSION_HALTED' })
    await expect(waits.wait(5, 0, () => undefined)).rejects.toMatchObject({ code: 'XRC_TIMEOUT' })
  })
})
