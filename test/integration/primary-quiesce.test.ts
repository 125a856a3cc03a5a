/**
 * Quiescing the primary (what xrc failback's swap of roles needs): writes
 * in progress finish and are acknowledged, new ones are refused as
 * certainly not taken (XRC_CLOSED, reason quiesced; 503 over HTTP), the
 * time returned bounds every acknowledged write, heartbeats go on past it,
 * and unquiesce takes writes again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { createPrimary, startHttpApi, type HttpApi, type Primary } from '../../producer/index.js'
import { testSession } from './producerTopic.js'

let session: Awaited<ReturnType<typeof testSession>>
let primary: Primary
let api: HttpApi

beforeAll(async () => {
  session = await testSession()
  primary = createPrimary({ config: session.config, logger: silentLogger })
  await primary.start()
  api = await startHttpApi({ primary, port: 0, logger: silentLogger })
})

afterAll(async () => {
  await api?.close()
  await primary?.stop()
  await session?.cleanup()
})

it('finishes the writes in progress, refuses new ones, bounds every acknowledged time, and takes writes again', async () => {
  const volume = session.config.session.controllers[0]?.volumes[0]?.name as string
  const data = Buffer.alloc(session.config.session.blockSize, 7)
  const inProgress = Array.from({ length: 20 }, (_, i) => primary.write({ volume, block: i, data }))
  const { time } = await primary.quiesce()
  const acks = await Promise.all(inProgress)
  expect(primary.quiesced).toBe(true)
  for (const ack of acks) expect(ack.time).toBeLessThanOrEqual(time)

  const refused = await primary.write({ volume, block: 30, data }).catch((e: unknown) => e)
  expect(isXrcError(refused, 'XRC_CLOSED')).toBe(true)
  expect((refused as Error).message).toMatch(/quiesced for a failback/)
  const http = await fetch(`${api.url}/v1/volumes/${volume}/blocks/31`, { method: 'POST', body: data })
  expect(http.status).toBe(503)
  expect(await primary.quiesce()).toEqual({ time: expect.any(Number) as number })

  // heartbeats go on, so the session's time passes the quiesce time
  await waitFor(
    'a heartbeat past the quiesce time',
    () => (primary.status().controllers.every((c) => (c.lastHeartbeatTime ?? 0) > time) ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 100 },
  )

  const lifted = await fetch(`${api.url}/v1/unquiesce`, { method: 'POST' })
  expect(await lifted.json()).toEqual({ quiesced: false })
  const ack = await primary.write({ volume, block: 32, data })
  expect(ack.time).toBeGreaterThan(time)
})
