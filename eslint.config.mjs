// n8n's community-node rules, in the configuration for nodes that are not n8n Cloud eligible
// (this node reads and writes the file system, so it is self-hosted only: "strict": false).
import { configs } from '@n8n/eslint-plugin-community-nodes';
import tseslint from 'typescript-eslint';

export default [
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.demo/**', '.n8n-local/**', 'bench/.cache/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    // Registered so that inline disable comments naming its rules resolve.
    plugins: { '@typescript-eslint': tseslint.plugin },
  },
  { ...configs.recommendedWithoutN8nCloudSupport, files: ['nodes/**/*.ts', 'credentials/**/*.ts'] },
  {
    files: ['nodes/**/*.ts', 'credentials/**/*.ts'],
    rules: {
      // Cloud-only rule: a self-hosted node may depend on maintained libraries; this one uses
      // picomatch (excludes). tar.gz is written and read by the engine itself (targz.ts,
      // tarReader.ts: it must resume after a damaged gzip member); tar-stream is a dev dependency
      // the tests check those headers against and forge hostile archives with.
      '@n8n/community-nodes/no-runtime-dependencies': 'off',
    },
  },
  {
    files: ['nodes/Backup/engine/**/*.ts'],
    rules: {
      // The engine is plain TypeScript with no n8n import (it also runs the CLI): it raises
      // BackupError with a code and a hint, which actions/ turns into NodeOperationError.
      '@n8n/community-nodes/require-node-api-error': 'off',
    },
  },
];
