import { defineConfig } from 'vitest/config'

// Two projects: `unit` (pure code, beside the sources) and `integration`
// (real Kafka, schema registry and PostgreSQL; see test/global.setup.ts).
/** Integration files kept out of `npm test` until they pass reliably (issue notes say why). */
const UNSTABLE = process.env.XRC_TEST_UNSTABLE === '1' ? [] : ['test/faults/servers-faults.test.ts', 'test/integration/resync-topic-lost.test.ts']

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['{lib,producer,mover,applier,schemas,cli,stack,workload,bench}/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          // after the unit project, with its own worker limit
          sequence: { groupOrder: 1 },
          include: ['test/**/*.test.ts'],
          // Not yet reliable on a loaded 2-core machine (see the open issues 6 and 7): run them with
          // `npm run test:unstable`. They are kept out of `npm test` and CI until they are.
          exclude: ['**/node_modules/**', ...UNSTABLE],
          environment: 'node',
          globalSetup: ['test/global.setup.ts', 'test/faults/figures.setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // The machine has 2 cores and one broker: keep integration files few at a time.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
    ],
  },
})
