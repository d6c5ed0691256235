import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-results/', 'playwright-report/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    // The browser takes only types from the zod-backed shared modules; their values come from shared/constants.ts
    // (importing a value would bundle zod, which those modules call at top level).
    files: ['web/**/*.ts', 'web/**/*.svelte'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: 'shared/(api|protocol|events)(\\.js)?$',
              allowTypeImports: true,
              message: 'web/ imports only types from this module; take values from shared/constants.ts (keeps zod out of the bundle).',
            },
          ],
        },
      ],
    },
  },
  {
    // shared/ runs in both Node and the browser: neither's globals are allowed there.
    files: ['shared/**/*.ts'],
    languageOptions: { globals: {} },
    rules: { 'no-restricted-imports': ['error', { patterns: ['node:*', 'fs', 'path', 'child_process'] }] },
  },
);
