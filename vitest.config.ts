import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // web/src/lib tests sit beside the modules they test (type-checked by svelte-check with the web app).
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'web/src/**/*.test.ts'],
    // Integration tests spawn real shells and namespaces: separate processes keep a failing file from
    // leaking state into another. Files run one at a time: the differential tests compare us with lsns and
    // findmnt on the live machine, which another file's process churn (1000 shells) would change mid-compare.
    pool: 'forks',
    // Worker threads run compiled files: build the server first (test/helpers/build-once.ts).
    globalSetup: ['test/helpers/build-once.ts'],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
