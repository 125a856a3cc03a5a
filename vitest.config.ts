import { defineConfig } from 'vitest/config'

// Two projects: `unit` (pure code, beside the sources) and `integration`
// (real Kafka, schema registry and PostgreSQL; see test/global.setup.ts).
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
          exclude: ['**/node_modules/**'],
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
