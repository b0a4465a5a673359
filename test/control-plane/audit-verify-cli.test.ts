// `npm run audit:verify` as operators run it: its own process, DATABASE_URL from the environment,
// the head to keep on stdout, and an exit status a cron job or CI step can act on.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatHead } from '../../control-plane/audit-verify.ts';
import { appendAuditRows, chainHead } from '../support/audit.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function runVerify(env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'control-plane/audit-verify-cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

// The CLI needs a database another process can open: PostgreSQL only.
describe.skipIf(!postgresAvailable())('npm run audit:verify', () => {
  let test: TestDatabase;

  beforeAll(async () => {
    test = await createTestDatabase({ target: 'postgres' });
    await appendAuditRows(test.db, 4);
  });
  afterAll(() => test?.drop());

  it('prints OK with the head to keep and exits 0 on an intact chain, and accepts that head as a checkpoint', async () => {
    const head = formatHead(await chainHead(test.db));
    const plain = await runVerify({ DATABASE_URL: test.url! });
    expect(plain).toMatchObject({ code: 0 });
    expect(plain.stdout).toContain(`head ${head}`);
    const checked = await runVerify({ DATABASE_URL: test.url! }, ['--expect-head', head]);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/checkpoint 4 present and unchanged/);
  }, 30_000);

  it('exits 1 naming the seq when the recorded head is gone, and 2 on a malformed head', async () => {
    const gone = await runVerify({ DATABASE_URL: test.url! }, ['--expect-head', `99:${'ab'.repeat(32)}`]);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toMatch(/BROKEN at seq 99 \(removed\)/);
    const malformed = await runVerify({ DATABASE_URL: test.url! }, ['--expect-head', 'latest']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/usage: npm run audit:verify/);
  }, 30_000);
});
