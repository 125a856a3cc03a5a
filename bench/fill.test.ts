import { describe, expect, it } from 'vitest'
import { fillVolumes } from './fill.js'
import type { BlockRange, RangesWritten, StageRequest } from './protocol.js'

/** A primary stage that records each writeRanges request and answers with a session time per chunk. */
function fakeHarness() {
  const events: string[] = []
  const ranges: BlockRange[] = []
  let time = 0
  return {
    events,
    ranges,
    harness: {
      primary: {
        request: <T>(body: StageRequest): Promise<T> => {
          const r = (body as { op: 'writeRanges'; ranges: BlockRange[] }).ranges
          ranges.push(...r)
          time += 10
          events.push(`write ${r.map((x) => `${x.volume}:${x.first}+${x.count}`).join()} -> ${time}`)
          const written: RangesWritten = { writes: 1, bytes: 0, lastTime: time, startedMs: 0, endedMs: 0 }
          return Promise.resolve(written as T)
        },
      } as never,
      waitCommitted: (t: number): Promise<void> => {
        events.push(`wait ${t}`)
        return Promise.resolve()
      },
    },
  }
}

describe('fillVolumes', () => {
  it('writes every block once, in order, a chunk at a time, and waits for the chunk before and the last', async () => {
    const f = fakeHarness()
    const result = await fillVolumes(
      f.harness,
      [
        { name: 'a', blocks: 5 },
        { name: 'b', blocks: 2 },
      ],
      { blocksPerWrite: 2, concurrency: 1, chunkBlocks: 2, drainTimeoutMs: 1000 },
      () => undefined,
    )
    expect(f.events).toEqual([
      'write a:0+2 -> 10',
      'write a:2+2 -> 20',
      'wait 10',
      'write a:4+1 -> 30',
      'wait 20',
      'write b:0+2 -> 40',
      'wait 30',
      'wait 40',
    ])
    expect(result.blocks).toBe(7)
  })

  it('covers each volume exactly, whatever the chunk size', async () => {
    for (const chunkBlocks of [1, 3, 7, 8, 100]) {
      const f = fakeHarness()
      const volumes = [
        { name: 'x', blocks: 7 },
        { name: 'y', blocks: 1 },
        { name: 'z', blocks: 16 },
      ]
      await fillVolumes(
        f.harness,
        volumes,
        { blocksPerWrite: 4, concurrency: 2, chunkBlocks, drainTimeoutMs: 1 },
        () => undefined,
      )
      for (const v of volumes) {
        const seen = f.ranges
          .filter((r) => r.volume === v.name)
          .flatMap((r) => Array.from({ length: r.count }, (_, i) => r.first + i))
        expect(seen).toEqual(Array.from({ length: v.blocks }, (_, i) => i))
      }
      expect(f.ranges.every((r) => r.count <= chunkBlocks)).toBe(true)
    }
  })
})
