// Shared Vitest settings: tests import sibling packages from their TypeScript sources
// (the "@convnets/source" export condition), so a change is tested without a rebuild.
import { defineConfig } from 'vitest/config';

const conditions = ['@convnets/source', 'module', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['node', 'import', 'default'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
