import { defineConfig } from 'vitest/config';

// The lab end-to-end file measures failover outages against budgets of a few
// seconds: it runs alone, after everything else, so no other test file's CPU
// load (ansible, terraform, npm pack) is in its figures.
const LAB_E2E = 'test/lab.e2e.test.ts';

export default defineConfig({
  test: {
    // Above one run of the CLI or a real tool (test/support/tools.ts
    // STEP_TIMEOUT_MS, up to 3 min outside ansible): on 2 cores a slow run
    // must fail with its own output, not vitest's timeout. Tests with longer
    // steps set their own.
    testTimeout: 4 * 60_000,
    hookTimeout: 300_000,
    // 2 cores: the end-to-end files spawn CLIs and ansible; keep it calm.
    maxWorkers: 2,
    minWorkers: 1,
    env: {
      // Terraform must never phone home from the tests.
      CHECKPOINT_DISABLE: '1',
    },
    // In CI, also a JSON report, from which .ci/run prints a plain
    // "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: process.env.CI ? { json: '.ci/vitest-results.json' } : undefined,
    projects: [
      { extends: true, test: { name: 'all', include: ['test/**/*.test.ts'], exclude: [LAB_E2E], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'lab', include: [LAB_E2E], sequence: { groupOrder: 1 } } },
    ],
  },
});
