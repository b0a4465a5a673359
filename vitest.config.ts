// One `vitest run` for the whole suite: Node tests (shared, control plane, end to end) and the
// edge tests, which run inside workerd through the Workers pool.
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// The edge's usage journal is a workerd `disk` service (edge/usage-journal.ts): the edge tests get
// a real one, on a directory of their own; each test writes in a subdirectory of its own.
const journalDir = mkdtempSync(join(tmpdir(), 'taas-journal-'));
// Removed once the workers project is done (test/support/journal-dir.ts); a run of the other
// projects alone leaves it, empty.
process.env.TAAS_TEST_JOURNAL_DIR = journalDir;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/edge/**', 'test/e2e/**'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            main: './edge/index.ts',
            wrangler: { configPath: './wrangler.toml' },
            miniflare: { serviceBindings: { USAGE_JOURNAL: { disk: { path: journalDir, writable: true } } } },
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/edge/**/*.test.ts'],
          globalSetup: ['test/support/journal-dir.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
