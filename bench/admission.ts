// `npm run bench:admission`: what admission (edge/allowances.ts) adds to a request.
//
// 1. The fast path, paid by every request: reserve the worst case from the leases of its scopes
//    (org wallet + key budget/RPM here) and settle it, in-process, with a warm lease. Reported as
//    µs per request, against the same loop doing nothing (the harness's own cost).
// 2. The cold path, paid by a request whose scope holds no lease with room: one call to the real
//    control plane over loopback HTTP (node token, zod, one PostgreSQL transaction per scope).
//    Reported as p50/p99 of the admission's wall time, one scope at a time and in bursts.
// Creates its own database on the local PostgreSQL and drops it at the end (scratch-database.ts).
//
// Settings: BENCH_DATABASE_URL (admin URL; default TEST_DATABASE_URL or postgres@127.0.0.1:5432),
// BENCH_ADMISSION_FAST (requests on the fast path, 200000), BENCH_ADMISSION_COLD (keys for the
// cold path, 300).

import { serve } from '@hono/node-server';
import { exportJWK, generateKeyPair } from 'jose';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { AllowanceScope } from '../shared/allowance.ts';
import { uuidv7 } from '../shared/ids.ts';
import { signNodeToken } from '../shared/node-token.ts';
import { createControlPlaneApp } from '../control-plane/app.ts';
import { creditAdjustment } from '../control-plane/ledger.ts';
import { silentLogger } from '../control-plane/log.ts';
import { createManifestPublisher } from '../control-plane/manifest/publisher.ts';
import { createAllowances, type Allowances } from '../edge/allowances.ts';
import { withScratchDatabase } from './scratch-database.ts';
import { AllowanceAnswer, type AllowanceSync } from '../shared/allowance.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const FAST = env('BENCH_ADMISSION_FAST', 200_000);
const COLD = env('BENCH_ADMISSION_COLD', 300);
const NODE_ID = 'bench-node';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const noWait = () => {};

async function main(): Promise<void> {
  await withScratchDatabase('admission', { maxConnections: 8 }, async (db, onCleanup) => {
    const node = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const orgId = uuidv7();
    const keyIds = Array.from({ length: COLD + 1 }, () => uuidv7());
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO edge_nodes (id, public_key_jwk) VALUES ($1, $2)', [NODE_ID, JSON.stringify(await exportJWK(node.publicKey))]);
      await tx.query('INSERT INTO orgs (id, name) VALUES ($1, $2)', [orgId, 'bench org']);
      for (const id of keyIds) {
        await tx.query(
          `INSERT INTO api_keys (id, org_id, name, key_hash, prefix, budget_limit_micros, budget_period, rate_limit_rpm)
           VALUES ($1, $2, 'k', $3, 'taas_bench', 1000000000000, 'monthly', 100000000)`,
          [id, orgId, randomBytes(32).toString('hex')],
        );
      }
      await creditAdjustment(tx, { orgId, micros: 1_000_000_000_000, actor: 'system', memo: 'bench credit' });
    });
    const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const manifest = createManifestPublisher({ db, signingKey: { kid: 'bench', privateKey: signing.privateKey }, ttlSeconds: 600, nowSeconds: () => Math.floor(Date.now() / 1000) });
    const app = createControlPlaneApp({ db, manifest, now: () => new Date(), log: silentLogger });
    const port = await new Promise<number>((resolve) => {
      const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port));
      onCleanup(() => server.close());
    });
    const sync = async (body: AllowanceSync) => {
      const token = await signNodeToken(NODE_ID, node.privateKey, { nowSeconds: Math.floor(Date.now() / 1000) });
      const res = await fetch(`http://127.0.0.1:${port}/node/v1/allowances`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status !== 200) throw new Error(`allowance sync answered ${res.status}: ${await res.text()}`);
      return AllowanceAnswer.parse(await res.json());
    };
    const allowances: Allowances = createAllowances({ sync, nowMs: () => Date.now() });
    const scopesFor = (keyId: string): AllowanceScope[] => [
      { kind: 'org', org_id: orgId },
      { kind: 'key', key_id: keyId },
    ];
    const worst = { money: 2_500, tokens: 4_200 };

    process.stdout.write(`admission bench: Node ${process.version}, PostgreSQL ${(await db.query('SHOW server_version')).rows[0]!.server_version}\n`);

    // 1. Fast path.
    const hot = scopesFor(keyIds[0]!);
    const warm = allowances.admit(hot, worst, noWait);
    (warm instanceof Promise ? await warm : warm).settle({ money: 100, tokens: 50 });
    let slow = 0;
    const loop = async (admit: boolean) => {
      const started = process.hrtime.bigint();
      for (let i = 0; i < FAST; i++) {
        if (!admit) continue;
        const r = allowances.admit(hot, worst, noWait);
        if (r instanceof Promise) {
          slow++;
          (await r).settle({ money: 100, tokens: 50 });
        } else r.settle({ money: 100, tokens: 50 });
      }
      return Number(process.hrtime.bigint() - started) / 1e3 / FAST;
    };
    await loop(true); // JIT warm-up
    slow = 0;
    const empty = await loop(false);
    const fast = await loop(true);
    process.stdout.write(
      `fast path (warm leases, org + key scopes): ${(fast - empty).toFixed(2)} µs per request (loop ${empty.toFixed(3)} µs); ` +
        `${slow} of ${FAST} requests needed a new lease (the leases grow with use)\n`,
    );

    // 2. Cold path: a scope with no lease on this edge.
    const one: number[] = [];
    for (let i = 1; i <= COLD / 2; i++) {
      const started = performance.now();
      const r = allowances.admit(scopesFor(keyIds[i]!), worst, noWait);
      (r instanceof Promise ? await r : r).settle({ money: 100, tokens: 50 });
      one.push(performance.now() - started);
    }
    one.sort((a, b) => a - b);
    const burst: number[] = [];
    const rest = keyIds.slice(COLD / 2 + 1);
    for (let i = 0; i < rest.length; i += 50) {
      await Promise.all(
        rest.slice(i, i + 50).map(async (keyId) => {
          const started = performance.now();
          const r = allowances.admit(scopesFor(keyId), worst, noWait);
          (r instanceof Promise ? await r : r).settle({ money: 100, tokens: 50 });
          burst.push(performance.now() - started);
        }),
      );
    }
    burst.sort((a, b) => a - b);
    process.stdout.write(
      `cold path (one control-plane call over loopback HTTP + PostgreSQL): one scope at a time p50 ${percentile(one, 50).toFixed(2)} ms, p99 ${percentile(one, 99).toFixed(2)} ms; ` +
        `bursts of 50 new keys p50 ${percentile(burst, 50).toFixed(2)} ms, p99 ${percentile(burst, 99).toFixed(2)} ms\n`,
    );
    await allowances.flush();
  });
}

await main();
