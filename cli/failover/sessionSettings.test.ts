import { expect, it } from 'vitest'
import { movedSessionSettings } from './sessionSettings.js'

it("changes only the session's name, folder and secondary schema, keeping every other setting as written", () => {
  const raw = {
    kafka: { brokers: ['k:9092'] },
    session: { name: 'prod', dataDir: '/a', blockSize: 4096, controllers: [{ id: 0, volumes: [] }] },
    applier: { schema: 'xrc_prod', metricsPort: 0 },
    producer: { apiPort: 7070 },
  }
  const moved = movedSessionSettings(raw, { name: 'prod_dr', dataDir: '/b', schema: 'xrc_prod_dr' })
  expect(moved).toEqual({
    kafka: { brokers: ['k:9092'] },
    session: { name: 'prod_dr', dataDir: '/b', blockSize: 4096, controllers: [{ id: 0, volumes: [] }] },
    applier: { schema: 'xrc_prod_dr', metricsPort: 0 },
    producer: { apiPort: 7070 },
  })
  expect(raw.session.name).toBe('prod')
  expect(movedSessionSettings({}, { name: 'n', dataDir: '/d', schema: 's' })).toEqual({
    session: { name: 'n', dataDir: '/d' },
    applier: { schema: 's' },
  })
})
