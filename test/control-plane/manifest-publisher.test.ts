// What the publisher answers an edge that long-polls with the version it holds: a cached delta is
// shared only while it is fresh (an edge back after a long disconnection must not be handed one
// already expired), and a scheduled price taking effect reaches edges that hold the same version.

import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManifestPublisher, type ManifestPublisher } from '../../control-plane/manifest/publisher.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

const TTL = 3_600;
let h: Harness;
let clock = Math.floor(Date.now() / 1000);
let publisher: ManifestPublisher;

beforeAll(async () => {
  h = await createHarness();
  const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  publisher = createManifestPublisher({ db: h.testDb.db, signingKey: { kid: 'test', privateKey: signing.privateKey }, ttlSeconds: TTL, nowSeconds: () => clock });
}, 60_000);
afterAll(() => h?.close());

const bump = () => h.testDb.db.query('UPDATE manifest_state SET version = version + 1, changed_at = now()');

describe('manifest publisher', () => {
  it('builds a delta again for an edge back after the cached one grew old, instead of answering one already expired', async () => {
    const held = await publisher.current();
    await bump();
    const first = await publisher.updateFor({ version: held.version, issuedAt: held.issuedAt });
    expect(first).toMatchObject({ kind: 'delta', issuedAt: clock });
    clock += TTL + 60; // nothing changes meanwhile; the edge was cut off past its copy's expiry
    const again = await publisher.updateFor({ version: held.version, issuedAt: held.issuedAt });
    expect(again).toMatchObject({ kind: 'delta', issuedAt: clock });
  });

  it('renews an edge holding the current version once a scheduled price has taken effect', async () => {
    await h.testDb.db.query(`INSERT INTO models (id, owned_by) VALUES ('p-later', 't')`);
    const at = new Date((clock + 100) * 1000).toISOString();
    await h.testDb.db.query(`INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok) VALUES ('p-later', $1, 1, 1)`, [at]);
    const held = await publisher.current();
    expect(await publisher.updateFor({ version: held.version, issuedAt: held.issuedAt })).toEqual({ kind: 'unchanged' });
    clock += 101;
    const renewed = await publisher.updateFor({ version: held.version, issuedAt: held.issuedAt });
    expect(renewed).toMatchObject({ kind: 'delta', version: held.version, issuedAt: clock });
  });
});
