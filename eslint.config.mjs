// The TypeScript's lint rules: typescript-eslint's recommended set, plus the
// rules the code is written to (output only through the logger, which
// redacts secrets; no promise left floating), and prettier's formatting.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const WIDTH = 160; // prettier's printWidth (.prettierrc.json)

export default tseslint.config(
  { ignores: ['test/fixtures/', 'dist/', 'node_modules/', 'coverage/', '**/.terraform/', 'test/support/*.mjs', 'test/support/standins/', 'scripts/', 'bin/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // TypeScript itself checks names; the core rule does not know Node's globals in .ts files.
      'no-undef': 'off',
      // Strings and template literals cannot be wrapped by prettier: this keeps them inside the width too.
      'max-len': ['error', { code: WIDTH, ignoreUrls: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // The stand-in API is plain JavaScript (.mjs) typed by a .d.ts that only a reference can attach.
      '@typescript-eslint/triple-slash-reference': 'off',
      // Tests poke at untyped JSON from the stand-ins and the CLI.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // The logger is the one place output happens; tests print their figures.
    files: ['src/ui/logger.ts', 'test/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
