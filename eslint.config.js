import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/**
 * Folders whose production code keeps every line within 120 characters.
 * Prettier wraps code at that width but leaves long strings, template
 * literals and comments alone; max-len catches those.
 */
const LINE_LENGTH_FOLDERS = [
  'lib',
  'schemas',
  'cli',
  'bench',
  'workload',
  'stack',
  'scripts',
  'producer',
  'mover',
  'applier',
]

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.stack/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // the Kafka seam (lib/kafka/client, README "Choosing the Kafka client"): only it talks to a client library. Tests
    // may use kafkajs as a tool of their own (records written by hand, its error classes), and the bench measures
    // kafkajs's own sendBatch as a reference line.
    files: ['**/*.ts'],
    ignores: ['lib/kafka/client/**', 'test/**', '**/*.test.ts', 'bench/kafkaCeiling.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'kafkajs', message: 'Kafka goes through the seam: lib/kafka/client (lib/kafka/index.ts).' },
            {
              name: '@platformatic/kafka',
              message: 'Kafka goes through the seam: lib/kafka/client (lib/kafka/index.ts).',
            },
          ],
        },
      ],
    },
  },
  {
    files: LINE_LENGTH_FOLDERS.map((folder) => `${folder}/**/*.ts`),
    ignores: ['**/*.test.ts'],
    rules: {
      'max-len': ['error', { code: 120, tabWidth: 2, ignoreUrls: true }],
    },
  },
)
