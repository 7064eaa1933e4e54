import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs backends are process-global; one file per worker, two workers for the two cores.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
