/**
 * A small controller for the controller's unit tests: one volume "a" of 16 blocks of 512 bytes, a 1 MiB sidefile
 * in 64 KiB segments, writes of up to 8 blocks; `overrides` change any of it.
 */
import type { ControllerOptions } from '../../producer/controller/controller.js'
import { createSessionClock } from '../../producer/sessionClock.js'
import { silentLogger } from '../../lib/logger.js'

/** The block size of smallControllerOptions. */
export const SMALL_BLOCK_BYTES = 512

export function smallControllerOptions(dataDir: string, overrides: Partial<ControllerOptions> = {}): ControllerOptions {
  return {
    session: 's',
    id: 0,
    volumes: [{ name: 'a', blocks: 16 }],
    blockSize: SMALL_BLOCK_BYTES,
    dataDir,
    clock: createSessionClock(),
    sidefile: { maxBytes: 1 << 20, waitMs: 50, segmentBytes: 64 * 1024 },
    maxWriteBytes: 8 * SMALL_BLOCK_BYTES,
    logger: silentLogger,
    ...overrides,
  }
}
