// Deltas at the edge, inside workerd: applying a chain gives the snapshot's state, and a delta
// that is tampered, unsigned, typed as a snapshot, or built on another version is refused.
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { acceptSigned, replayChain, verifySigned } from '../../edge/manifest-chain.ts';
import { signManifestDelta, type ManifestDeltaPayload } from '../../shared/manifest-delta.ts';
import { signManifest } from '../../shared/manifest.ts';
import { buildManifest, createSigner, deltaBetween, mintKey, sign, type Signer } from './support/manifest-builder.ts';

const NOW = Math.floor(Date.now() / 1000);

async function setup(signer: Signer) {
  const [a, b, c] = [await mintKey(), await mintKey(), await mintKey()];
  const v1 = buildManifest({ version: 1, nowSeconds: NOW, keys: [a, b] });
  const v2 = buildManifest({ version: 2, nowSeconds: NOW + 1, keys: [a, c] });
  const options = { publicKeys: signer.publicKeys, nowSeconds: NOW + 2, maxBytes: 1 << 20 };
  const snapshot = await sign(v1, signer);
  const first = await acceptSigned(snapshot, null, options);
  if (!first.ok) throw new Error(first.reason);
  return { v1, v2, snapshot, held: first.held, options, keys: { a, b, c } };
}

describe('manifest deltas at the edge', () => {
  it('applies a delta to the same state as the snapshot of its version, and replays the persisted chain', async () => {
    const signer = await createSigner();
    const { v1, v2, snapshot, held, options } = await setup(signer);
    const delta = await signManifestDelta(deltaBetween(v1, v2), signer);
    const applied = await acceptSigned(delta, held, options);
    if (!applied.ok) throw new Error(applied.reason);
    expect(applied.held.manifest).toEqual(v2);
    expect(applied.held.chain).toEqual({ snapshotBytes: snapshot.length, deltas: 1, deltaBytes: delta.length });
    // The persisted chain (what the vault holds) replays to the same state.
    const replayed = await replayChain([snapshot, delta], options);
    expect(replayed?.manifest).toEqual(v2);
    expect(replayed?.chain).toEqual(applied.held.chain);
  });

  it('refuses a tampered, unsigned, wrongly typed or wrong-base delta, and keeps what it holds', async () => {
    const signer = await createSigner();
    const { v1, v2, held, options } = await setup(signer);
    const good = await signManifestDelta(deltaBetween(v1, v2), signer);
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const edited = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as ManifestDeltaPayload;
    edited.remove = [];
    const tampered = `${header}.${base64url.encode(JSON.stringify(edited))}.${signature}`;
    const unsigned = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'taas-manifest-delta+jws', kid: signer.kid }))}.${payload}.`;
    const otherSigner = await createSigner();
    const foreign = await signManifestDelta(deltaBetween(v1, v2), { kid: signer.kid, privateKey: otherSigner.privateKey });
    const wrongBase = await signManifestDelta({ ...deltaBetween(v1, v2), from: 5, to: 6 }, signer);
    // A newer snapshot is always acceptable: it starts a new chain (the edge's fallback).
    const newerSnapshot = await signManifest(v2, signer);

    const before = structuredClone(held.manifest);
    expect(await acceptSigned(tampered, held, options)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await acceptSigned(unsigned, held, options)).toEqual({ ok: false, reason: 'bad_header' });
    expect(await acceptSigned(foreign, held, options)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await acceptSigned(wrongBase, held, options)).toEqual({ ok: false, reason: 'wrong_base' });
    expect(await acceptSigned(good, null, options)).toEqual({ ok: false, reason: 'wrong_base' });
    expect(held.manifest).toEqual(before);
    expect((await acceptSigned(newerSnapshot, held, options)).ok).toBe(true);
  });

  it('changes nothing held while verifying a delta, only once it is applied', async () => {
    const signer = await createSigner();
    const { v1, v2, held, options } = await setup(signer);
    const before = structuredClone(held.manifest);

    const verified = await verifySigned(await signManifestDelta(deltaBetween(v1, v2), signer), held, options);
    if (!verified.ok || verified.kind !== 'delta') throw new Error('expected a verified delta');
    // The store drops a verified delta whose base is no longer held: it must not have touched it.
    expect(held.manifest).toEqual(before);
    expect(verified.apply().manifest).toEqual(v2);
  });

  it('refuses a persisted chain whose end is past its hard expiry, or whose links do not verify', async () => {
    const signer = await createSigner();
    const { v1, v2, snapshot, options } = await setup(signer);
    const delta = await signManifestDelta(deltaBetween(v1, v2), signer);
    expect(await replayChain([snapshot, delta], { ...options, nowSeconds: v2.expires_at })).toBeNull();
    expect(await replayChain([delta], options)).toBeNull();
    expect(await replayChain([snapshot, delta.slice(0, -4) + 'AAAA'], options)).toBeNull();
  });
});
