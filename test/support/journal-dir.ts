// Vitest globalSetup of the workers project: removes, once its tests are done, the directory that
// vitest.config.ts made for the edge's usage journal (a workerd disk service needs it to exist).
import { rmSync } from 'node:fs';

export default function setup(): () => void {
  return () => {
    const dir = process.env.TAAS_TEST_JOURNAL_DIR;
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
