import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Above one run of the CLI or a real tool (test/support/tools.ts
    // STEP_TIMEOUT_MS, up to 3 min outside ansible): on 2 cores busy with the
    // lab's containers a slow run must fail with its own output, not vitest's
    // timeout. Tests with longer steps set their own.
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
  },
});
