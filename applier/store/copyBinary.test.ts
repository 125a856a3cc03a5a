import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  COPY_SIGNATURE,
  decodeCopyBinary,
  encodeBlockRows,
  encodeGroupsRows,
  lastWriters,
  type BlockRow,
  type CopyTuple,
} from './copyBinary.js'

async function collect(chunks: Buffer[]): Promise<CopyTuple[]> {
  const out: CopyTuple[] = []
  for await (const t of decodeCopyBinary(chunks)) out.push(t)
  return out
}

/** Re-cuts a byte stream at the given positions, as a socket might deliver it. */
function recut(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let prev = 0
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p))
    prev = p
  }
  return out
}

describe('binary COPY format', () => {
  it('round-trips block rows through any cut of the byte stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            volumeId: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
            block: fc.integer({ min: 0, max: 2 ** 40 }),
            data: fc.uint8Array({ maxLength: 64 }),
          }),
          { maxLength: 20 },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 1, max: 200 }),
        async (raw, cuts, chunkBytes) => {
          const rows: BlockRow[] = raw.map((r) => ({ ...r, data: Buffer.from(r.data) }))
          const bytes = Buffer.concat([...encodeBlockRows(rows, 7, 1_700_000_000_000_000, chunkBytes)])
          const tuples = await collect(recut(bytes, cuts))
          expect(tuples).toHaveLength(rows.length)
          tuples.forEach((t, i) => {
            const row = rows[i] as BlockRow
            expect(t).toHaveLength(5)
            expect(t[0]?.readInt32BE(0)).toBe(row.volumeId)
            expect(Number(t[1]?.readBigInt64BE(0))).toBe(row.block)
            expect(Number(t[2]?.readBigInt64BE(0))).toBe(7)
            expect(Number(t[3]?.readBigInt64BE(0))).toBe(1_700_000_000_000_000)
            expect(t[4]?.equals(row.data)).toBe(true)
          })
        },
      ),
    )
  })

  it('yields chunks of bounded size for a large group', () => {
    const rows = Array.from({ length: 300 }, (_, i) => ({ volumeId: 1, block: i, data: randomBytes(4096) }))
    const chunks = [...encodeBlockRows(rows, 1, 1, 64 * 1024)]
    expect(chunks.length).toBeGreaterThan(10)
    for (const c of chunks) expect(c.length).toBeLessThan(64 * 1024 + 4096 + 64)
  })

  it('reads NULL fields and skips a header extension', async () => {
    const head = Buffer.alloc(COPY_SIGNATURE.length + 8 + 3)
    COPY_SIGNATURE.copy(head)
    head.writeInt32BE(3, COPY_SIGNATURE.length + 4)
    const tuple = Buffer.alloc(2 + 4 + 4 + 2)
    tuple.writeInt16BE(2, 0)
    tuple.writeInt32BE(-1, 2)
    tuple.writeInt32BE(2, 6)
    tuple.write('ok', 10)
    const trailer = Buffer.from([0xff, 0xff])
    expect(await collect([head, tuple, trailer])).toEqual([[null, Buffer.from('ok')]])
  })

  it('refuses a bad signature, a truncated stream and bytes after the trailer', async () => {
    const good = Buffer.concat([...encodeBlockRows([{ volumeId: 1, block: 2, data: Buffer.from('abc') }], 1, 1)])
    const bad = Buffer.from(good)
    bad[0] = 0x51
    await expect(collect([bad])).rejects.toMatchObject({ code: 'XRC_DECODE_FAILED' })
    await expect(collect([good.subarray(0, good.length - 1)])).rejects.toThrow(/truncated/)
    await expect(collect([good.subarray(0, 5)])).rejects.toThrow(/truncated in its header/)
    await expect(collect([good, Buffer.from([0])])).rejects.toThrow(/after the trailer/)
  })
})

describe('the rows of a batch of groups', () => {
  /** Groups of rows over a few volumes and blocks, each group naming a block once (as validateGroup leaves them). */
  const groupsArb = fc.array(
    fc.uniqueArray(fc.record({ volumeId: fc.integer({ min: 1, max: 3 }), block: fc.integer({ min: 0, max: 20 }) }), {
      selector: (r) => `${r.volumeId}/${r.block}`,
      maxLength: 12,
    }),
    { maxLength: 6 },
  )

  it('lastWriters keeps, of each block, the row of the last group that writes it, in its group and order', () => {
    fc.assert(
      fc.property(groupsArb, (keysOfGroups) => {
        const groups = keysOfGroups.map((keys, g) => ({
          groupSeq: g + 1,
          rows: keys.map((k) => ({ ...k, data: Buffer.from(`${g}:${k.volumeId}/${k.block}`) })),
        }))
        const kept = lastWriters(groups)
        expect(kept.map((g) => g.groupSeq)).toEqual(groups.map((g) => g.groupSeq))
        // the model: apply the groups one after another, last writer wins
        const model = new Map<string, string>()
        for (const g of groups) for (const r of g.rows) model.set(`${r.volumeId}/${r.block}`, r.data.toString())
        const written = new Map<string, string>()
        for (const g of kept)
          for (const r of g.rows) {
            const key = `${r.volumeId}/${r.block}`
            expect(written.has(key), key).toBe(false) // each block once
            written.set(key, r.data.toString())
          }
        expect(written).toEqual(model)
        // a group's kept rows are its own, in its order
        for (const [i, g] of kept.entries()) {
          const own = groups[i]?.rows ?? []
          expect(g.rows.every((r) => own.includes(r))).toBe(true)
          expect(g.rows).toEqual(own.filter((r) => g.rows.includes(r)))
        }
      }),
    )
  })

  it('encodeGroupsRows writes each row with its own group seq and time, one stream for all', async () => {
    const groups = [
      { groupSeq: 5, groupTime: 50, rows: [{ volumeId: 1, block: 2, data: Buffer.from('a') }] },
      { groupSeq: 6, groupTime: 60, rows: [] },
      {
        groupSeq: 7,
        groupTime: 70,
        rows: [
          { volumeId: 2, block: 3, data: Buffer.from('bb') },
          { volumeId: 1, block: 4, data: Buffer.from('c') },
        ],
      },
    ]
    const tuples = await collect([...encodeGroupsRows(groups, 8)])
    const int = (b: Buffer | null, n: 4 | 8): number => Number(n === 4 ? b?.readInt32BE(0) : b?.readBigInt64BE(0))
    expect(
      tuples.map((t) => [
        int(t[0] ?? null, 4),
        int(t[1] ?? null, 8),
        int(t[2] ?? null, 8),
        int(t[3] ?? null, 8),
        t[4]?.toString(),
      ]),
    ).toEqual([
      [1, 2, 5, 50, 'a'],
      [2, 3, 7, 70, 'bb'],
      [1, 4, 7, 70, 'c'],
    ])
    // one group: the same bytes as encodeBlockRows
    const one = groups[2] as (typeof groups)[number]
    expect(Buffer.concat([...encodeGroupsRows([one])])).toEqual(Buffer.concat([...encodeBlockRows(one.rows, 7, 70)]))
  })
})
