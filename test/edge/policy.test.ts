// Per-key policy at the edge: what a key sees in /v1/models, and the 404/403 answers for what it
// may not call. A denied request never reaches a supplier.
import { describe, expect, it } from 'vitest';
import type { KeyEntry, ModelEntry } from '../../shared/manifest.ts';
import { completion } from './support/fake-supplier.ts';
import { buildModel, buildPricing, buildRoute, mintKey } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';

interface ModelListing {
  object: string;
  data: { id: string; [field: string]: unknown }[];
}

describe('edge policy: GET /v1/models', () => {
  it('lists only the models in the key\'s allowed_models, with pricing in USD per 1M tokens, type, context window and capabilities', async () => {
    const listed = buildModel({
      type: 'chat',
      context_window: 200_000,
      max_output_tokens: 8_192,
      capabilities: ['chat', 'tools', 'vision'],
      pricing: buildPricing(150_000, 2_500_000),
    });
    const alsoAllowed = buildModel();
    const notAllowed = buildModel();
    const { edge, key } = await scenario({
      key: { allowed_models: [listed.id, alsoAllowed.id] },
      model: listed,
      extraModels: [alsoAllowed, notAllowed],
    });

    const response = await edge.send('/v1/models', { key: key.token });

    expect(response.status).toBe(200);
    const body = (await response.json()) as ModelListing;
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id).sort()).toEqual([listed.id, alsoAllowed.id].sort());
    expect(body.data.find((m) => m.id === listed.id)).toEqual({
      id: listed.id,
      object: 'model',
      created: expect.any(Number),
      owned_by: listed.owned_by,
      type: 'chat',
      context_window: 200_000,
      max_output_tokens: 8_192,
      capabilities: ['chat', 'tools', 'vision'],
      pricing: { input: 0.15, output: 2.5 },
    });
  });

  it('leaves out models the key can reach through no allowed region or no allowed supplier', async () => {
    const reachable = buildModel({ routes: [buildRoute({ supplier_id: 'sup-eu', region: 'EU' })] });
    const usOnly = buildModel({ routes: [buildRoute({ supplier_id: 'sup-eu', region: 'US' })] });
    const otherSupplier = buildModel({ routes: [buildRoute({ supplier_id: 'sup-other', region: 'EU' })] });
    const { edge, key } = await scenario({
      key: { allowed_regions: ['EU'], allowed_suppliers: ['sup-eu'] },
      model: reachable,
      extraModels: [usOnly, otherSupplier],
    });

    const body = (await (await edge.send('/v1/models', { key: key.token })).json()) as ModelListing;

    expect(body.data.map((m) => m.id)).toEqual([reachable.id]);
  });

  it('lists every model of the catalog for a key without restrictions, and calls no supplier', async () => {
    const others = [buildModel(), buildModel()];
    const { edge, key, model } = await scenario({ extraModels: others });

    const body = (await (await edge.send('/v1/models', { key: key.token })).json()) as ModelListing;

    expect(body.data.map((m) => m.id).sort()).toEqual([model.id, ...others.map((m) => m.id)].sort());
    expect(edge.supplier.calls).toHaveLength(0);
  });
});

interface DenialCase {
  name: string;
  key: (model: ModelEntry) => Partial<KeyEntry>;
  model?: () => Partial<ModelEntry>;
  suspendOrg?: boolean;
  askFor?: string;
  status: number;
  code: string;
  messageContains: string;
}

const denials: DenialCase[] = [
  {
    name: 'answers 404 model_not_found for a model the catalog does not have',
    key: () => ({}),
    askFor: 'no-such-model',
    status: 404,
    code: 'model_not_found',
    messageContains: 'no-such-model',
  },
  {
    name: 'answers 403 naming allowed_models for a model outside the key\'s allowed models',
    key: () => ({ allowed_models: ['some-other-model'] }),
    status: 403,
    code: 'model_not_allowed',
    messageContains: 'allowed_models',
  },
  {
    name: 'answers 403 region_not_allowed for a model served only outside the key\'s allowed regions',
    key: () => ({ allowed_regions: ['EU'] }),
    model: () => ({ routes: [buildRoute({ region: 'US' }), buildRoute({ region: 'APAC', priority: 2 })] }),
    status: 403,
    code: 'region_not_allowed',
    messageContains: 'EU',
  },
  {
    name: 'answers 403 supplier_not_allowed for a model served only by suppliers the key may not use',
    key: () => ({ allowed_suppliers: ['the-only-allowed-supplier'] }),
    status: 403,
    code: 'supplier_not_allowed',
    messageContains: 'the-only-allowed-supplier',
  },
  {
    name: "answers 403 naming the owner for a model outside the owner's allowed models, whatever the key's own list",
    key: (model) => ({ allowed_models: [model.id], owner_allowed_models: ['some-other-model'] }),
    status: 403,
    code: 'model_not_allowed',
    messageContains: 'owner',
  },
  {
    name: "answers 403 region_not_allowed for a model served only outside the owner's allowed regions",
    key: () => ({ owner_allowed_regions: ['APAC'] }),
    model: () => ({ routes: [buildRoute({ region: 'EU' })] }),
    status: 403,
    code: 'region_not_allowed',
    messageContains: "its owner's: APAC",
  },
  {
    name: "answers 403 supplier_not_allowed for a model served only by suppliers the owner may not use",
    key: () => ({ owner_allowed_suppliers: ['the-owners-supplier'] }),
    status: 403,
    code: 'supplier_not_allowed',
    messageContains: 'the-owners-supplier',
  },
  {
    name: 'answers 403 org_suspended for a key of a suspended organisation',
    key: () => ({}),
    suspendOrg: true,
    status: 403,
    code: 'org_suspended',
    messageContains: 'suspended',
  },
];

describe('edge policy: suspended organisations', () => {
  it('answers 403 org_suspended to GET /v1/models for a key of a suspended organisation', async () => {
    const { edge, key, republish } = await scenario();
    await republish({ suspendedOrgs: [key.entry.org_id] });

    const response = await edge.send('/v1/models', { key: key.token });

    // An empty 200 list would leave the customer guessing why every model vanished.
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('org_suspended');
  });
});

describe('edge policy: POST /v1/chat/completions denials', () => {
  it.each(denials)('$name, with zero upstream calls', async (c) => {
    const model = buildModel(c.model?.());
    const key = await mintKey(c.key(model));
    const { edge, republish } = await scenario({ model });
    if (c.suspendOrg) await republish({ keys: [key], suspendedOrgs: [key.entry.org_id] });
    else await republish({ keys: [key] });
    for (const route of model.routes) edge.supplier.script(route, completion({ content: 'should never be sent' }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(c.askFor ?? model.id) });

    expect(response.status).toBe(c.status);
    const { error } = (await response.json()) as { error: { code: string; message: string; type: string } };
    expect(error.code).toBe(c.code);
    expect(error.type).toBe(c.status === 404 ? 'not_found_error' : 'permission_error');
    expect(error.message).toContain(c.messageContains);
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('names the model parameter in a model_not_found answer', async () => {
    const { edge, key } = await scenario();

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody('no-such-model') });

    expect(((await response.json()) as { error: { param: string | null } }).error.param).toBe('model');
  });
});

describe('edge policy: models without a price', () => {
  it('serves no model with no price in force (503, zero supplier calls) and leaves it out of /v1/models', async () => {
    const unpriced = buildModel({ pricing: null });
    const { edge, key, model } = await scenario({ extraModels: [unpriced] });
    for (const route of unpriced.routes) edge.supplier.script(route, completion({ content: 'would be free' }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(unpriced.id) });
    expect(response.status).toBe(503);
    const { error } = (await response.json()) as { error: { code: string; type: string; message: string } };
    expect(error).toMatchObject({ code: 'not_configured', type: 'service_unavailable' });
    expect(error.message).toContain('no price');
    expect(edge.supplier.calls).toHaveLength(0);

    const listed = (await (await edge.send('/v1/models', { key: key.token })).json()) as ModelListing;
    expect(listed.data.map((m) => m.id)).toEqual([model.id]);
  });
});
