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
    files: LINE_LENGTH_FOLDERS.map((folder) => `${folder}/**/*.ts`),
    ignores: ['**/*.test.ts'],
    rules: {
      'max-len': ['error', { code: 120, tabWidth: 2, ignoreUrls: true }],
    },
  },
)
