// `npm run bench:ingest`: usage ingestion into the local PostgreSQL, in events per second. Creates
// its own database (migrated, seeded with orgs, keys and priced models), then runs three timed
// phases with a few concurrent posters sending batches of 1000 events: new events through the
// ingest function, new events through the node API route (in-process Hono app: JSON parsing,
// zod validation, node-token check), and replays of already-stored events. Checks at the end that
// rows, rollups and wallets agree, and drops the database (also on Ctrl-C).
//
// Settings: BENCH_DATABASE_URL (admin URL; default TEST_DATABASE_URL or postgres@127.0.0.1:5432),
// BENCH_INGEST_SECONDS per phase (10), BENCH_INGEST_POSTERS (4), BENCH_INGEST_BATCH (1000),
// BENCH_INGEST_ORGS (20), BENCH_INGEST_KEYS_PER_ORG (10), BENCH_INGEST_MODELS (8).

import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { exportJWK, generateKeyPair } from 'jose';
import { uuidv7 } from '../shared/ids.ts';
import { signNodeToken } from '../shared/node-token.ts';
import type { UsageEvent } from '../shared/usage.ts';
import { createControlPlaneApp } from '../control-plane/app.ts';
import type { Database } from '../control-plane/db.ts';
import { silentLogger } from '../control-plane/log.ts';
import { createManifestPublisher } from '../control-plane/manifest/publisher.ts';
import { ingestUsage } from '../control-plane/usage-ingest.ts';
import { withScratchDatabase } from './scratch-database.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SECONDS = env('BENCH_INGEST_SECONDS', 10);
const POSTERS = env('BENCH_INGEST_POSTERS', 4);
const BATCH = env('BENCH_INGEST_BATCH', 1000);
const ORGS = env('BENCH_INGEST_ORGS', 20);
const KEYS_PER_ORG = env('BENCH_INGEST_KEYS_PER_ORG', 10);
const MODELS = env('BENCH_INGEST_MODELS', 8);
const NODE_ID = 'bench-node';

interface World {
  keys: { id: string; orgId: string }[];
  models: string[];
}

async function seed(db: Database, publicJwk: object): Promise<World> {
  const keys: World['keys'] = [];
  await db.transaction(async (tx) => {
    await tx.query("INSERT INTO edge_nodes (id, public_key_jwk) VALUES ($1, $2)", [NODE_ID, JSON.stringify(publicJwk)]);
    for (let o = 0; o < ORGS; o++) {
      const orgId = uuidv7();
      await tx.query('INSERT INTO orgs (id, name) VALUES ($1, $2)', [orgId, `bench org ${o}`]);
      for (let k = 0; k < KEYS_PER_ORG; k++) {
        const id = uuidv7();
        await tx.query('INSERT INTO api_keys (id, org_id, name, key_hash, prefix) VALUES ($1, $2, $3, $4, $5)', [id, orgId, `k${k}`, randomBytes(32).toString('hex'), 'taas_bench']);
        keys.push({ id, orgId });
      }
    }
  });
  const models = Array.from({ length: MODELS }, (_, i) => `bench-model-${i}`);
  for (const [i, m] of models.entries()) {
    await db.query("INSERT INTO models (id, owned_by) VALUES ($1, 'bench')", [m]);
    // Two versions each (the newer one in force for recent events), every other model with tiers.
    const tiers = i % 2 === 0 ? [{ min_input_tokens: 32_000, input_per_mtok: 2_000_000 + i, output_per_mtok: 8_000_000, cached_input_per_mtok: 200_000 }] : [];
    await db.query(
      `INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, tiers)
       VALUES ($1, '2020-01-01Z', 1000000, 4000000, 100000, 1250000, '[]'), ($1, now() - interval '3 days', $2, 5000000, 150000, NULL, $3)`,
      [m, 1_100_000 + i * 1000, JSON.stringify(tiers)],
    );
  }
  return { keys, models };
}

function batchOf(w: World, size: number): UsageEvent[] {
  const now = Date.now();
  return Array.from({ length: size }, () => {
    const key = w.keys[Math.floor(Math.random() * w.keys.length)]!;
    const input = Math.floor(Math.random() * 40_000);
    const output = Math.floor(Math.random() * 4_000);
    // Spread over the last 6 days: rollup rows are (day, org, key, model, ...), several per batch.
    const started = new Date(now - Math.floor(Math.random() * 6 * 86_400_000));
    return {
      id: uuidv7(started.getTime()),
      request_id: `req_${randomBytes(12).toString('hex')}`,
      key_id: key.id,
      org_id: key.orgId,
      user_id: null,
      model: w.models[Math.floor(Math.random() * w.models.length)]!,
      supplier_id: 'bench-supplier',
      region: 'EU',
      endpoint: '/v1/chat/completions',
      status: Math.random() < 0.03 ? 502 : 200,
      input_tokens: input,
      output_tokens: output,
      cached_input_tokens: Math.floor(Math.random() * input * 0.5),
      cache_write_tokens: 0,
      reasoning_tokens: Math.floor(Math.random() * output * 0.3),
      estimated: Math.random() < 0.01,
      audio_seconds: 0,
      started_at: started.toISOString(),
      latency_ms: Math.floor(Math.random() * 3000),
      lease_ids: [],
    };
  });
}

interface PhaseResult {
  name: string;
  events: number;
  accepted: number;
  seconds: number;
  latenciesMs: number[];
}

/** POSTERS loops, each sending one batch after the other until the phase's time is up. */
async function phase(name: string, send: (poster: number) => Promise<number>, size: number): Promise<PhaseResult> {
  const latenciesMs: number[] = [];
  let events = 0;
  let accepted = 0;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: POSTERS }, async (_, poster) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        const added = await send(poster); // not `accepted += await …`: that would add to a stale value
        accepted += added;
        latenciesMs.push(performance.now() - t);
        events += size;
      }
    }),
  );
  return { name, events, accepted, seconds: (performance.now() - started) / 1000, latenciesMs };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

function report(r: PhaseResult): string {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  return [
    r.name.padEnd(34),
    `${Math.round(r.events / r.seconds).toLocaleString('en-US').padStart(7)} events/s`,
    `(${r.events.toLocaleString('en-US')} events, ${r.accepted.toLocaleString('en-US')} new, ${r.seconds.toFixed(1)} s)`,
    `batch p50 ${pct(sorted, 50).toFixed(0)} ms · p99 ${pct(sorted, 99).toFixed(0)} ms`,
  ].join('  ');
}

async function check(db: Database): Promise<string> {
  const { rows } = await db.query<{ events: string; raw: string; daily: string; daily_rows: string; wallets: string; partitions: string; in_default: string }>(
    `SELECT (SELECT count(*) FROM usage_events)::text AS events,
            (SELECT sum(cost_micros) FROM usage_events)::text AS raw,
            (SELECT sum(cost_micros) FROM usage_daily)::text AS daily,
            (SELECT count(*) FROM usage_daily)::text AS daily_rows,
            (SELECT -sum(balance_micros) FROM ledger_accounts WHERE kind = 'wallet')::text AS wallets,
            (SELECT count(*) FROM pg_inherits WHERE inhparent = 'usage_events'::regclass)::text AS partitions,
            (SELECT count(*) FROM usage_events_default)::text AS in_default`,
  );
  const r = rows[0]!;
  const agree = r.raw === r.daily && r.daily === r.wallets;
  return `${Number(r.events).toLocaleString('en-US')} rows in ${r.partitions} partitions (${r.in_default} in default), ${Number(r.daily_rows).toLocaleString('en-US')} rollup rows; cost µUSD raw ${r.raw} · rollup ${r.daily} · wallets ${r.wallets}: ${agree ? 'agree' : 'DISAGREE'}`;
}

async function main(): Promise<void> {
  await withScratchDatabase('ingest', { maxConnections: POSTERS + 2 }, async (db) => {
    const node = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const world = await seed(db, await exportJWK(node.publicKey));
    const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const manifest = createManifestPublisher({ db, signingKey: { kid: 'bench', privateKey: signing.privateKey }, ttlSeconds: 600, nowSeconds: () => Math.floor(Date.now() / 1000) });
    const app = createControlPlaneApp({ db, manifest, now: () => new Date(), log: silentLogger });

    process.stdout.write(
      `usage ingest bench: ${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}, Node ${process.version}, PostgreSQL ${(await db.query('SHOW server_version')).rows[0]!.server_version} via the db bridge\n` +
        `${POSTERS} posters × batches of ${BATCH}, ${SECONDS} s per phase, ${ORGS} orgs × ${KEYS_PER_ORG} keys, ${MODELS} models\n`,
    );
    // Batches are built before each phase (enough for ~15k events/s), so the clock measures
    // ingestion; should a phase run out, it builds more on the way.
    const pool = (n: number) => Array.from({ length: n }, () => batchOf(world, BATCH));

    // Warm-up: creates this month's partitions and the rollup rows' first versions.
    await ingestUsage(db, NODE_ID, batchOf(world, BATCH), { log: silentLogger });

    // What was actually sent, for the replay phase.
    const stored: UsageEvent[][] = [];
    let fresh = pool(Math.ceil((SECONDS * 15_000) / BATCH));
    let next = 0;
    const take = () => {
      if (next >= fresh.length) fresh = fresh.concat(pool(POSTERS));
      return fresh[next++]!;
    };
    const direct = await phase('ingest function, new events', async () => {
      const batch = take();
      stored.push(batch);
      return (await ingestUsage(db, NODE_ID, batch, { log: silentLogger })).accepted;
    }, BATCH);

    const bodies = Array.from({ length: Math.ceil((direct.events / BATCH) * 1.5) + POSTERS }, () => {
      const batch = take();
      return { batch, json: JSON.stringify({ events: batch }) };
    });
    let body = 0;
    const http = await phase('node API route, new events', async () => {
      const payload = bodies[body++] ?? (() => {
        const batch = take();
        return { batch, json: JSON.stringify({ events: batch }) };
      })();
      stored.push(payload.batch);
      const token = await signNodeToken(NODE_ID, node.privateKey, { nowSeconds: Math.floor(Date.now() / 1000) });
      const res = await app.request('/node/v1/usage', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: payload.json });
      if (res.status !== 200) throw new Error(`usage route answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { accepted: number }).accepted;
    }, BATCH);

    let replay = 0;
    const replays = await phase('ingest function, replays only', async () => (await ingestUsage(db, NODE_ID, stored[replay++ % stored.length]!, { log: silentLogger })).accepted, BATCH);

    for (const r of [direct, http, replays]) process.stdout.write(`${report(r)}\n`);
    process.stdout.write(`${await check(db)}\n`);
  });
}

await main();
