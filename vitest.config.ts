import { defineConfig } from 'vitest/config';

// Two cores on CI: at most two test files run at once; heavy suites set their own timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
