import { describe, expect, it } from 'vitest'
import { DEFAULT_READ_AHEAD_BYTES, UPDATES_FETCH_BYTES, updatesFetchBytes } from './updatesReader.js'

describe('updatesFetchBytes', () => {
  it('fetches at most UPDATES_FETCH_BYTES per partition, whatever the read-ahead', () => {
    expect(updatesFetchBytes(DEFAULT_READ_AHEAD_BYTES)).toBe(UPDATES_FETCH_BYTES)
    expect(updatesFetchBytes(64 * 1024 * 1024)).toBe(UPDATES_FETCH_BYTES)
  })

  it('fetches a quarter of a small read-ahead, never under 64 KiB', () => {
    expect(updatesFetchBytes(1024 * 1024)).toBe(256 * 1024)
    expect(updatesFetchBytes(64 * 1024)).toBe(64 * 1024)
  })
})
