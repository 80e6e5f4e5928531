import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // SoftHSM2 tokens and PostgreSQL databases are per run, but suites share them: run files one at a time
    // so the 2-core machine's timing-sensitive pool tests are not starved by other files.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
