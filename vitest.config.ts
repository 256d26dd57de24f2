import { defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real Redis, Dovecot and SecantusDB (or MONGODB_URI) for the whole run; see test/support/services.ts.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    // Test files mostly wait (on mail, timers, child processes), so more of them than cores
    // run at once; the default (cores - 1) runs them one by one on a 2-core machine.
    maxWorkers: 4,
    sequence: { sequencer: LongestFirst },
  },
});
