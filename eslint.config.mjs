// ESLint 9 flat config: typescript-eslint's recommended rules for all TypeScript, plus the
// project's boundaries. `npm run lint` runs this and scripts/check-cycles.mjs (import cycles).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'out/', 'dist/', '.vscode-test/', '.automl/', '.cache/', 'test-artifacts/', 'bench-data/', 'examples/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names document a deliberately unused parameter or binding.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Only the extension host may talk to VS Code: everything else runs in the worker, the CLI or the webview.
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'vscode', message: 'Only src/extension.ts and src/host/** (and the extension-host tests) may import vscode.' }] },
      ],
    },
  },
  {
    files: ['src/extension.ts', 'src/host/**/*.ts', 'test/suite/**/*.ts', 'test/vscode/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Product code stays in modules and functions a reader can hold in mind (tests are exempt).
    files: ['src/**/*.ts', 'webview/**/*.ts'],
    ignores: ['**/*.d.ts'],
    rules: {
      'max-lines': ['error', { max: 500, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // Ambient declarations of runtime globals are written the way TypeScript's own lib files write them.
    files: ['**/*.d.ts'],
    rules: { 'no-var': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: globals.node },
  },
);
