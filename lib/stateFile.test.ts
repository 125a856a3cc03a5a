import { chmod, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readStateFile, writeStateFile } from './stateFile.js'

const validate = (v: unknown): { n: number } => {
  const n = (v as { n?: unknown }).n
  if (typeof n !== 'number') throw new Error('n is not a number')
  return { n }
}

describe('state files', () => {
  it('reads the default when missing, then what was written, leaving no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xrc-state-'))
    const path = join(dir, 'sub', 'state.json')
    expect(await readStateFile(path, validate, () => ({ n: -1 }))).toEqual({ n: -1 })
    await writeStateFile(path, { n: 7 })
    await writeStateFile(path, { n: 8 })
    expect(await readStateFile(path, validate, () => ({ n: -1 }))).toEqual({ n: 8 })
    expect(await readdir(join(dir, 'sub'))).toEqual(['state.json'])
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ n: 8 })
  })

  it('makes the file 0600 and its new folder 0700, also over a temp file a crash left with a wider mode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xrc-state-'))
    const path = join(dir, 'sub', 'state.json')
    await writeStateFile(path, { n: 1 })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'sub'))).mode & 0o777).toBe(0o700)
    await writeFile(`${path}.tmp`, 'torn', { mode: 0o644 })
    await chmod(`${path}.tmp`, 0o644)
    await writeStateFile(path, { n: 2 })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('names the file and the fault when it is damaged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xrc-state-'))
    const path = join(dir, 'state.json')
    await writeFile(path, '{"n": "x"}')
    await expect(readStateFile(path, validate, () => ({ n: 0 }))).rejects.toThrow(
      `state file ${path} is damaged: n is not a number`,
    )
    await writeFile(path, '{not json')
    await expect(readStateFile(path, validate, () => ({ n: 0 }))).rejects.toMatchObject({
      code: 'XRC_SIDEFILE_CORRUPT',
    })
  })
})
