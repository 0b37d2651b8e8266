// Lint rules that catch real bugs; formatting is left to review. The layer rules make the direction of
// imports a checked fact: model/ → engine/, stores/, api/, datapath/ → daemon/ → cli/ (README, "How it works").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const ALL = ['model', 'engine', 'stores', 'api', 'datapath', 'daemon', 'cli', 'panel', 'bench', 'test', 'tools'];
/** Each layer and what it may import of ours; everything else of ours is forbidden to it. */
const LAYERS = {
  model: [],
  engine: ['model'],
  stores: ['model'],
  api: ['model'],
  datapath: ['model', 'engine'],
  daemon: ['model', 'engine', 'stores', 'api', 'datapath'],
  'panel/src': ['model'],
};

/** Zones for import-x/no-restricted-paths; exported so the fixture test can see the same table. */
export const layerZones = Object.entries(LAYERS).map(([target, allowed]) => ({
  target: `./${target}`,
  from: ALL.filter((d) => d !== target && !target.startsWith(`${d}/`) && !allowed.includes(d)).map((d) => `./${d}`),
  message: `${target}/ may import only ${allowed.length === 0 ? 'nothing of ours' : allowed.map((a) => `${a}/`).join(', ')} (layers: model → engine, stores, api, datapath → daemon → cli)`,
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tap/', 'panel/dist/', 'coverage/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { ecmaVersion: 2022, sourceType: 'module' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
      'prefer-const': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ alwaysTryTypes: true })],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/extensions': ['.ts', '.tsx', '.js'],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: layerZones }],
    },
  },
);
