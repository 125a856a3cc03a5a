import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { DUPLEX, combineRecords, loadMirrorRecord, saveMirrorRecord, type MirrorRecord } from './mirrorRecord.js'

const rec = (r: Partial<MirrorRecord>): MirrorRecord => ({ ...DUPLEX, ...r })

it('takes the most cautious state of the controllers, and the earliest S', () => {
  expect(combineRecords([{ record: rec({ epoch: 3 }), pending: 0 }])).toEqual({ ...DUPLEX, epoch: 3 })
  const resyncing = rec({ state: 'resyncing', consistentUntil: 50, epoch: 2, reason: 'operator', since: 'x' })
  const suspended = rec({ state: 'suspended', consistentUntil: 70, epoch: 1, reason: 'kafka-unreachable', since: 'y' })
  expect(
    combineRecords([
      { record: resyncing, pending: 4 },
      { record: suspended, pending: 9 },
    ]),
  ).toEqual({ state: 'suspended', consistentUntil: 50, epoch: 2, reason: 'kafka-unreachable', since: 'y' })
  expect(
    combineRecords([
      { record: resyncing, pending: 4 },
      { record: rec({}), pending: 0 },
    ]),
  ).toMatchObject({ state: 'resyncing', consistentUntil: 50 })
  // marks whose suspension was never saved: suspended, nothing assumed
  expect(combineRecords([{ record: rec({ epoch: 1 }), pending: 2 }])).toMatchObject({
    state: 'suspended',
    consistentUntil: 0,
    reason: 'operator',
  })
})

it('saves and loads a record, and refuses a damaged one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'xrc-mirror-'))
  try {
    expect(await loadMirrorRecord(dir)).toEqual(DUPLEX)
    const r = rec({
      state: 'suspended',
      consistentUntil: 12,
      epoch: 4,
      reason: 'sidefile-full',
      since: '2025-01-01T00:00:00.000Z',
    })
    await saveMirrorRecord(dir, r)
    expect(await loadMirrorRecord(dir)).toEqual(r)
    await writeFile(join(dir, 'mirror.json'), '{"state":"sleeping","consistentUntil":0,"epoch":0}')
    const err = await loadMirrorRecord(dir).catch((e: unknown) => e)
    expect(isXrcError(err, 'XRC_SIDEFILE_CORRUPT')).toBe(true)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
