// Sealed supplier credentials inside workerd: opened with this node's X25519 key, chosen per route
// (pinned, else the supplier's default, else SUPPLIER_KEYS), refreshed conditionally, kept when a
// refresh fails, and never written to a log or a usage event.

import { generateKeyPair, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { createCredentialStore, credentialFor, type CredentialFetchResult } from '../../edge/credential-store.ts';
import { sealCredential, type SealedCredential, type SealedCredentialSet } from '../../shared/sealed-credential.ts';
import { completion, usageOf } from './support/fake-supplier.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';

const NODE = 'edge-under-test';
const PINNED = 'sk-PINNED-secret-0a1b2c3d4e5f';
const DEFAULT = 'sk-DEFAULT-secret-9f8e7d6c5b4a';

type Keys = { publicKey: CryptoKey; privateKey: CryptoKey };
const x25519 = (): Promise<Keys> => generateKeyPair('ECDH-ES', { crv: 'X25519' });

async function entry(keys: Keys, c: { id: string; supplier: string; secret: string; version?: string; isDefault: boolean; node?: string }): Promise<SealedCredential> {
  const version = c.version ?? 'v1';
  const jwe = await sealCredential(c.secret, keys.publicKey, { kid: 'k', nodeId: c.node ?? NODE, credentialId: c.id, supplierId: c.supplier, version });
  return { id: c.id, supplier_id: c.supplier, version, default: c.isDefault, jwe };
}

/** A control plane serving one set at a time, with ETags, recording what it was asked. */
function fakeControlPlane() {
  let current: { body: SealedCredentialSet; etag: string } | null = null;
  let failing = false;
  const asked: (string | null)[] = [];
  return {
    asked,
    serve(credentials: SealedCredential[], etag: string, nodeId = NODE) {
      current = { body: { object: 'sealed_credential_set', node_id: nodeId, credentials }, etag };
    },
    fail(on: boolean) {
      failing = on;
    },
    async fetch(etag: string | null): Promise<CredentialFetchResult> {
      asked.push(etag);
      if (failing) throw new Error('control plane unreachable');
      if (!current) throw new Error('nothing served');
      if (etag === current.etag) return { status: 'not_modified' };
      return { status: 'ok', body: structuredClone(current.body), etag: current.etag };
    },
  };
}

async function storeWith(keys: Keys) {
  const cp = fakeControlPlane();
  const logs: string[] = [];
  let now = 1_000_000;
  const store = createCredentialStore({
    nodeId: NODE,
    privateKey: keys.privateKey,
    fetchCredentials: cp.fetch,
    nowMs: () => now,
    refreshMs: 1000,
    log: (msg, fields) => logs.push(JSON.stringify({ msg, ...fields })),
  });
  return { cp, logs, store, advance: (ms: number) => (now += ms) };
}

describe('credential store', () => {
  it('opens sealed credentials and picks the pinned one, else the default, else the configured key', async () => {
    const keys = await x25519();
    const { cp, store } = await storeWith(keys);
    cp.serve([await entry(keys, { id: 'c-pinned', supplier: 'sup', secret: PINNED, isDefault: false }), await entry(keys, { id: 'c-default', supplier: 'sup', secret: DEFAULT, isDefault: true })], '"e1"');
    await store.refresh();

    const deps = { credentials: store, supplierKeys: { sup: 'sk-config', other: 'sk-config-other' } };
    expect(credentialFor(deps, { supplier_id: 'sup', credential_id: 'c-pinned' })).toBe(PINNED);
    expect(credentialFor(deps, { supplier_id: 'sup', credential_id: null })).toBe(DEFAULT);
    expect(credentialFor(deps, { supplier_id: 'other', credential_id: null })).toBe('sk-config-other');
    // A pin that is not held never silently becomes another account's default.
    expect(credentialFor(deps, { supplier_id: 'sup', credential_id: 'c-unknown' })).toBe('sk-config');
    expect(credentialFor({ supplierKeys: {} }, { supplier_id: 'sup', credential_id: null })).toBeUndefined();
  });

  it('fetches conditionally, takes a renewed secret, and keeps the last good set when a refresh fails', async () => {
    const keys = await x25519();
    const { cp, store, advance } = await storeWith(keys);
    cp.serve([await entry(keys, { id: 'c1', supplier: 'sup', secret: DEFAULT, isDefault: true })], '"e1"');
    await store.refresh();
    await store.refresh();
    expect(cp.asked).toEqual([null, '"e1"']);

    cp.serve([await entry(keys, { id: 'c1', supplier: 'sup', secret: 'sk-RENEWED-token-1234', version: 'v2', isDefault: true })], '"e2"');
    advance(1000);
    const pending: Promise<unknown>[] = [];
    await store.keepFresh((p) => pending.push(p));
    await Promise.all(pending);
    expect(store.secretFor({ supplier_id: 'sup', credential_id: null })).toBe('sk-RENEWED-token-1234');

    cp.fail(true);
    await store.refresh();
    expect(store.secretFor({ supplier_id: 'sup', credential_id: null })).toBe('sk-RENEWED-token-1234');
  });

  it('tries a renewed credential it could not open again at the next refresh, keeping the last good secret meanwhile', async () => {
    const keys = await x25519();
    const stranger = await x25519();
    const { cp, store } = await storeWith(keys);
    cp.serve([await entry(keys, { id: 'c1', supplier: 'sup', secret: DEFAULT, isDefault: true })], '"e1"');
    await store.refresh();
    // v2 arrives sealed to another key (a control plane mid-way through re-sealing): not opened.
    cp.serve([await entry(stranger, { id: 'c1', supplier: 'sup', secret: 'sk-RENEWED-token-1234', version: 'v2', isDefault: true })], '"e2"');
    await store.refresh();
    expect(store.secretFor({ supplier_id: 'sup', credential_id: null })).toBe(DEFAULT);
    // The same version, now sealed right, under the same ETag: asked for whole, and opened.
    cp.serve([await entry(keys, { id: 'c1', supplier: 'sup', secret: 'sk-RENEWED-token-1234', version: 'v2', isDefault: true })], '"e2"');
    await store.refresh();
    expect(cp.asked).toEqual([null, '"e1"', null]);
    expect(store.secretFor({ supplier_id: 'sup', credential_id: null })).toBe('sk-RENEWED-token-1234');
  });

  it("refuses a set for another node, another node's seal and a JWE replayed as another credential, without logging a secret", async () => {
    const keys = await x25519();
    const stranger = await x25519();
    const { cp, store, logs } = await storeWith(keys);
    const genuine = await entry(keys, { id: 'c-a', supplier: 'sup', secret: PINNED, isDefault: false });
    cp.serve(
      [
        genuine,
        { ...genuine, id: 'c-replayed', default: true }, // sealed for c-a, served as c-replayed
        await entry(stranger, { id: 'c-foreign', supplier: 'sup2', secret: DEFAULT, isDefault: true }),
      ],
      '"e1"',
    );
    await store.refresh();
    expect(store.secretFor({ supplier_id: 'sup', credential_id: 'c-a' })).toBe(PINNED);
    expect(store.secretFor({ supplier_id: 'sup', credential_id: null })).toBeUndefined();
    expect(store.secretFor({ supplier_id: 'sup2', credential_id: null })).toBeUndefined();

    const other = await storeWith(keys);
    other.cp.serve([genuine], '"x"', 'another-node');
    await other.store.refresh();
    expect(other.store.secretFor({ supplier_id: 'sup', credential_id: 'c-a' })).toBeUndefined();

    const all = [...logs, ...other.logs].join('\n');
    expect(all).toContain('wrong_binding');
    expect(all).toContain('undecryptable');
    expect(all).toContain('another node');
    expect(all).not.toContain(PINNED);
    expect(all).not.toContain(DEFAULT);
  });

  it('sends the sealed secret upstream from the first request on, and never into a log or usage event', async () => {
    const keys = await x25519();
    const cp = fakeControlPlane();
    const pinnedRoute = buildRoute({ supplier_id: 'sup-a', priority: 1, credential_id: 'c-pinned' });
    const defaultRoute = buildRoute({ supplier_id: 'sup-b', priority: 1 });
    cp.serve([await entry(keys, { id: 'c-pinned', supplier: 'sup-a', secret: PINNED, isDefault: false }), await entry(keys, { id: 'c-b', supplier: 'sup-b', secret: DEFAULT, isDefault: true })], '"e1"');
    const store = createCredentialStore({ nodeId: NODE, privateKey: keys.privateKey, fetchCredentials: cp.fetch, nowMs: () => Date.now(), refreshMs: 60_000 });
    const pinnedModel = buildModel({ routes: [pinnedRoute] });
    const { edge, key } = await scenario({ model: pinnedModel, extraModels: [buildModel({ id: 'model-b', routes: [defaultRoute] })], edge: { credentials: store, supplierKeys: { 'sup-a': 'sk-config-a' } } });
    edge.supplier.script(pinnedRoute, completion({ content: 'ok', usage: usageOf(3, 1) }));
    edge.supplier.script(defaultRoute, completion({ content: 'ok', usage: usageOf(3, 1) }));

    // Bodies are read to the end: metering (and the usage event) finishes with the stream.
    for (const model of [pinnedModel.id, 'model-b']) {
      const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model) });
      expect(response.status).toBe(200);
      await response.text();
    }
    await edge.settle();

    expect(edge.supplier.callsTo(pinnedRoute)[0]!.headers.get('authorization')).toBe(`Bearer ${PINNED}`);
    expect(edge.supplier.callsTo(defaultRoute)[0]!.headers.get('authorization')).toBe(`Bearer ${DEFAULT}`);
    const recorded = JSON.stringify(edge.logs) + JSON.stringify(edge.events());
    expect(recorded).not.toContain(PINNED);
    expect(recorded).not.toContain(DEFAULT);
  });
});
