// One lint setup for the workspace. The import rules are the architecture:
// shared/ is pure; agent/ and collector/ meet only through @backstop/shared.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// I/O modules only: node:crypto is computation (shared/src/signing.ts signs with it; callers bring the entropy).
const ioModules = [
  'fs',
  'net',
  'tls',
  'child_process',
  'dgram',
  'http',
  'https',
  'timers',
  'worker_threads',
  'cluster',
  'os',
]
const nodeIo = ioModules.flatMap((m) => [m, `node:${m}`, `${m}/promises`, `node:${m}/promises`])

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/fixtures/**', 'docs/**', '**/.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        fetch: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
      },
    },
    rules: {
      curly: ['error', 'all'],
      // Prettier (printWidth 120) lays out code; this catches what it cannot wrap: comments, strings, regular
      // expressions and test titles — everywhere, tests and benchmarks included. Split a message into '…' + pieces
      // at word boundaries, YAML at its line breaks, SQL across lines; shorten a test title rather than wrap it.
      'max-len': ['error', { code: 120, ignoreUrls: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Commands run as argv arrays through the Exec seam, never as shell strings.
      'no-restricted-syntax': [
        'error',
        {
          selector: "Property[key.name='shell'][value.value=true]",
          message: 'shell: true is forbidden: pass an argv array to Exec.',
        },
        {
          selector: "CallExpression[callee.property.name=/^(exec|execSync)$/][arguments.0.type='TemplateLiteral']",
          message: 'exec() with an interpolated string is forbidden: pass an argv array to Exec.',
        },
        {
          selector: 'CallExpression[callee.name=/^(exec|execSync)$/]',
          message: 'child_process exec/execSync run a shell: use Exec (argv arrays).',
        },
      ],
    },
  },
  {
    files: ['shared/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeIo.map((name) => ({
            name,
            message: 'shared/ is pure: no I/O. Take the data (and `now`) as arguments.',
          })),
          patterns: [
            {
              group: ['@backstop/agent', '@backstop/collector', '**/agent/**', '**/collector/**'],
              message: 'shared/ imports nothing from the workspace.',
            },
            {
              group: ['@backstop/node-io', '**/node-io/**'],
              message: 'shared/ is pure: file I/O helpers live in @backstop/node-io, for the agent and the collector.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'shared/ is pure: no timers.' },
        { name: 'setInterval', message: 'shared/ is pure: no timers.' },
        { name: 'fetch', message: 'shared/ is pure: no network.' },
        { name: 'process', message: 'shared/ is pure: no process state.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'shared/ takes `now` as an argument.' },
      ],
    },
  },
  {
    // node-io/ is the I/O the agent and the collector share; it depends on neither of them.
    files: ['node-io/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@backstop/*', '**/agent/**', '**/collector/**', '**/shared/**'],
              message: 'node-io/ stands alone: the agent and the collector import it, it imports no workspace package.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['agent/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@backstop/collector', '@backstop/collector/*', '**/collector/**'],
              message: 'agent/ imports only @backstop/shared, never the collector.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['collector/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@backstop/agent', '@backstop/agent/*', '**/agent/**'],
              message: 'collector/ imports only @backstop/shared, never the agent.',
            },
          ],
        },
      ],
    },
  },
  {
    // Tool configs that must be CommonJS (dependency-cruiser loads .cjs with require).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    files: ['**/test/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
)
