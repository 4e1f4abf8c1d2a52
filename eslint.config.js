import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * Layer boundaries (DESIGN.md §1) are enforced here rather than hoped for. Imports are
 * matched as written, so each pattern names the layer's folder as reached by a relative
 * path (`../main/…`, `../../renderer/…`, `../../src/main/…`).
 */
const layer = (name) => `^(\\.\\./)+(src/)?${name}(/|$)`;

const nodeBuiltins = {
  paths: builtinModules.map((name) => ({ name, message: 'Node built-ins are not available here; keep Node code in src/main.' })),
  node: { regex: '^node:', message: 'Node built-ins are not available here; keep Node code in src/main.' },
};

const electronImport = { name: 'electron', message: 'Only src/main/hosts and src/preload talk to Electron.' };

export default defineConfig(
  { ignores: ['dist/', 'release/', 'node_modules/'] },

  js.configs.recommended,

  {
    files: ['**/*.ts', '**/*.tsx'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        // There is no tsconfig.json to discover: each part of the tree has its own project.
        project: ['./tsconfig.node.json', './tsconfig.preload.json', './tsconfig.renderer.json', './tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Nothing on a backup or restore path is fire-and-forget (DESIGN.md §1).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },

  {
    files: ['src/renderer/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronImport, ...nodeBuiltins.paths],
          patterns: [
            { regex: layer('main'), message: 'The renderer talks to main only through the contract (window.drc).' },
            { regex: layer('preload'), message: 'The renderer talks to the preload only through window.drc.' },
            nodeBuiltins.node,
          ],
        },
      ],
    },
  },

  {
    files: ['src/main/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: layer('renderer'), message: 'Main never imports the renderer; share code through src/shared.' }] },
      ],
    },
  },

  {
    files: ['src/preload/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: layer('main'), message: 'The preload is bundled into a sandbox: it may use only electron and src/shared.' },
            { regex: layer('renderer'), message: 'The preload is bundled into a sandbox: it may use only electron and src/shared.' },
          ],
        },
      ],
    },
  },

  {
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronImport, ...nodeBuiltins.paths],
          patterns: [
            { regex: layer('main'), message: 'src/shared is imported by both sides and imports neither.' },
            { regex: layer('preload'), message: 'src/shared is imported by both sides and imports neither.' },
            { regex: layer('renderer'), message: 'src/shared is imported by both sides and imports neither.' },
            nodeBuiltins.node,
          ],
        },
      ],
    },
  },

  {
    // Build scripts and this file run under plain Node without type information.
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', URL: 'readonly' },
    },
  },
);
