// The usual starting point of an edge test: one active org, one key, one model routed to one or
// more suppliers, a manifest published and already fetched by the edge.

import type { KeyEntry, ModelEntry } from '../../../shared/manifest.ts';
import { buildManifest, buildModel, mintKey, type MintedKey } from './manifest-builder.ts';
import { createTestEdge, type TestEdge, type TestEdgeOptions } from './test-edge.ts';

export interface Scenario {
  edge: TestEdge;
  key: MintedKey;
  model: ModelEntry;
  /** Publishes a manifest at the next version holding these keys and models. */
  republish: (content?: { keys?: MintedKey[]; models?: ModelEntry[]; suspendedOrgs?: string[]; ttlSeconds?: number }) => Promise<void>;
}

export async function scenario(
  options: { key?: Partial<KeyEntry>; model?: Partial<ModelEntry>; extraModels?: ModelEntry[]; edge?: TestEdgeOptions } = {},
): Promise<Scenario> {
  const edge = await createTestEdge(options.edge);
  const key = await mintKey(options.key);
  const model = buildModel(options.model);
  let version = 0;
  const republish: Scenario['republish'] = async (content = {}) => {
    version++;
    await edge.publish(
      buildManifest({
        version,
        nowSeconds: edge.clock.nowSeconds(),
        keys: content.keys ?? [key],
        models: content.models ?? [model, ...(options.extraModels ?? [])],
        ...(content.suspendedOrgs ? { suspendedOrgs: content.suspendedOrgs } : {}),
        ...(content.ttlSeconds !== undefined ? { ttlSeconds: content.ttlSeconds } : {}),
      }),
    );
  };
  await republish();
  return { edge, key, model, republish };
}

export const chatBody = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'Hello there.' }],
  ...extra,
});
