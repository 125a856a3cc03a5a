/**
 * `xrc snapshot` as an operator drives it, against the real services (child
 * processes of the built CLI): write through the primary, snapshot, write
 * more; the snapshot exports as the primary's image as of the snapshot, diff
 * names the blocks written since, list shows what it holds, `xrc replay
 * --to-group` starts from it, delete frees its versions; and the errors.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../lib/retry.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { uniqueName } from '../kit/names.js'
import { startPipelineServices, type ServiceChild } from '../kit/services.js'
import { createTestSession, type TestSession } from '../kit/session.js'

const BS = 4096
const BLOCKS = 64
let session: TestSession
let configFile: string
let services: ServiceChild[] = []
let api: string
let applierUrl: string
/** The primary's image of c0v0 when the snapshot was taken, and the snapshot's group. */
let before: Buffer
let snapGroup: number

const xrc = (...args: string[]) => runCli(['--config', configFile, ...args], { timeoutMs: 90_000 })

/** Writes `data` at `block` of c0v0 through the primary and waits until the secondary has applied it. */
async function writeApplied(block: number, data: Buffer): Promise<void> {
  const w = await runCli(['--config', configFile, 'write', 'c0v0', String(block), '--primary', api, '--json'], {
    input: data,
  })
  expect(w.code, w.stderr).toBe(0)
  const ackTime = lastJsonLine<{ acks: { time: number }[] }>(w).acks[0]?.time ?? 0
  await waitFor(
    `the write at block ${block} to be applied`,
    async () => {
      const r = await xrc('status', '--json', '--primary', api, '--applier', applierUrl)
      const s = lastJsonLine<{ appliedGroup?: { time: number } }>(r)
      return (s.appliedGroup?.time ?? 0) >= ackTime ? true : undefined
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  )
}

beforeAll(async () => {
  session = createTestSession({ controllers: 2, volumesPerController: 1, blocks: BLOCKS })
  ;({ configFile, services, api, applierUrl } = await startPipelineServices(session.dataDir, session.settings))
})

afterAll(async () => {
  for (const s of services) await s.kill('SIGKILL')
  await session?.cleanup()
})

describe('xrc snapshot with running services', () => {
  it('creates a snapshot of the newest applied group', async () => {
    await writeApplied(0, randomBytes(4 * BS))
    before = await session.primaryImage('c0v0')
    const r = await xrc('snapshot', 'create', '--name', 'before-more', '--json')
    expect(r.code, r.stderr).toBe(0)
    const info = lastJsonLine<{ name: string; state: string; groupSeq: number; groupTime: number }>(r)
    expect(info).toMatchObject({ name: 'before-more', state: 'active' })
    expect(info.groupSeq).toBeGreaterThan(0)
    snapGroup = info.groupSeq
    const human = await xrc('snapshot', 'create', '--at-group', String(snapGroup + 100_000), '--name', 'later')
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(
      `created snapshot "later": pending: taken when the applier reaches group ${snapGroup + 100_000}`,
    )
  })

  it('exports the snapshot as the primary image of its time while writes go on', async () => {
    await writeApplied(1, randomBytes(2 * BS))
    await writeApplied(10, randomBytes(BS))
    const now = await session.primaryImage('c0v0')
    expect(now.equals(before)).toBe(false)
    const out = join(session.dataDir, 'snap-c0v0.img')
    const r = await xrc('snapshot', 'export', 'before-more', 'c0v0', out, '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(lastJsonLine(r)).toMatchObject({ snapshot: 'before-more', bytes: BLOCKS * BS, groupSeq: snapGroup })
    expect((await readFile(out)).equals(before)).toBe(true)
    const live = join(session.dataDir, 'live-c0v0.img')
    expect((await xrc('volume', 'export', 'c0v0', live)).code).toBe(0)
    expect((await readFile(live)).equals(now)).toBe(true)
  })

  it('diffs the snapshot with the live image: the blocks written since, per volume', async () => {
    const r = await xrc('snapshot', 'diff', 'before-more', 'live', '--json')
    expect(r.code, r.stderr).toBe(0)
    const d = lastJsonLine<{ volumes: { volume: string; changedBlocks: number; ranges: unknown[] }[] }>(r)
    expect(d.volumes).toEqual([
      {
        volume: 'c0v0',
        changedBlocks: 3,
        ranges: [
          { first: 1, last: 2 },
          { first: 10, last: 10 },
        ],
      },
      { volume: 'c1v0', changedBlocks: 0, ranges: [] },
    ])
    const human = await xrc('snapshot', 'diff', 'before-more', 'live')
    expect(human.stdout).toMatch(/c0v0: 3 blocks changed: 1-2, 10/)
    expect(human.stdout).toMatch(/c1v0: 0 blocks changed/)
  })

  it('lists the snapshots with their group, time and the versions they hold', async () => {
    const r = await xrc('snapshot', 'list', '--json')
    expect(r.code, r.stderr).toBe(0)
    const list = lastJsonLine<{ name: string; state: string; versionsHeld: number; bytesHeld: number }[]>(r)
    expect(list.map((s) => [s.name, s.state])).toEqual([
      ['before-more', 'active'],
      ['later', 'pending'],
    ])
    // blocks 1 and 2 were overwritten after the snapshot; block 10 was never written before it
    expect(list[0]).toMatchObject({ versionsHeld: 2, versionsOwned: 2 })
    expect(list[0]?.bytesHeld).toBeGreaterThan(0)
    const human = await xrc('snapshot', 'list')
    expect(human.stdout).toMatch(/^NAME +STATE +GROUP +T +HELD +OWNED +WAITING FOR$/m)
    expect(human.stdout).toMatch(new RegExp(`^before-more +active +${snapGroup} +\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z `, 'm'))
    expect(human.stdout).toMatch(new RegExp(`^later +pending +- +- +0 B +0 B +group ${snapGroup + 100_000}$`, 'm'))
  })

  it('replays to the snapshot group starting from the snapshot', async () => {
    const into = uniqueName('from_snap')
    session.extraSchemas.push(into)
    const r = await xrc('replay', '--into', into, '--to-group', String(snapGroup), '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(lastJsonLine(r)).toMatchObject({ schema: into, baseGroupSeq: snapGroup, groups: 0 })
    const out = join(session.dataDir, 'replayed.img')
    expect((await xrc('volume', 'export', 'c0v0', out, '--schema', into)).code).toBe(0)
    expect((await readFile(out)).equals(before)).toBe(true)
  })

  it('deletes a snapshot, freeing the versions only it held', async () => {
    const r = await xrc('snapshot', 'delete', 'before-more', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(lastJsonLine(r)).toMatchObject({ name: 'before-more', versionsFreed: 2 })
    const human = await xrc('snapshot', 'delete', 'later')
    expect(human.stdout).toMatch(/deleted snapshot "later": freed 0 block versions/)
    const list = await xrc('snapshot', 'list')
    expect(list.stdout.trim()).toBe('no snapshots')
  })

  it('says clearly what is wrong', async () => {
    const missing = await xrc('snapshot', 'export', 'nosuch', 'c0v0', join(session.dataDir, 'x.img'))
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/no snapshot "nosuch" in the secondary .*\[XRC_NOT_FOUND\]/)
    const passed = await xrc('snapshot', 'create', '--at-group', '1')
    expect(passed.code).toBe(2)
    expect(passed.stderr).toMatch(/a snapshot at group 1: the secondary .* has already applied group/)
    const badVolume = await xrc('snapshot', 'export', 'x', 'nosuch', join(session.dataDir, 'y.img'))
    expect(badVolume.code).toBe(2)
    expect(badVolume.stderr).toMatch(/volume "nosuch" is not in session/)
    const noStore = await xrc('snapshot', 'list', '--schema', uniqueName('none'))
    expect(noStore.code).toBe(1)
    expect(noStore.stderr).toMatch(/XRC_NOT_FOUND/)
  })
})
