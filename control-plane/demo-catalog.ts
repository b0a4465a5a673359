// The demo catalog `npm start` and the tests use: one OpenAI-format supplier and one model with a
// price. Written in one audited transaction that also bumps the manifest. The catalog API proper
// (suppliers, credentials, models, routes, versioned prices) arrives with issue 3.

import { uuidv7 } from '../shared/ids.ts';
import { writeAudit, type Actor } from './audit.ts';
import type { Database } from './db.ts';
import { insertPrice, upsertModel, upsertRoute, upsertSupplier, type SupplierInput } from './sql/catalog.ts';
import { bumpManifestVersion } from './sql/manifest.ts';

export interface DemoModel {
  id: string;
  upstreamModel: string;
  /** µUSD per 1M tokens. */
  inputPerMtok: number;
  outputPerMtok: number;
  priority?: number;
}

export async function seedCatalog(
  db: Database,
  actor: Actor,
  catalog: { supplier: SupplierInput; models: DemoModel[]; priceEffectiveFrom?: string },
): Promise<void> {
  await db.transaction(async (tx) => {
    await upsertSupplier(tx, catalog.supplier);
    for (const m of catalog.models) {
      await upsertModel(tx, { id: m.id, type: 'chat', ownedBy: catalog.supplier.id, contextWindow: 128_000, maxOutputTokens: 8192, capabilities: ['chat', 'streaming', 'tools'] });
      await upsertRoute(tx, { id: uuidv7(), modelId: m.id, supplierId: catalog.supplier.id, upstreamModel: m.upstreamModel, priority: m.priority ?? 100 });
      await insertPrice(tx, {
        modelId: m.id,
        effectiveFrom: catalog.priceEffectiveFrom ?? '2020-01-01T00:00:00Z',
        inputPerMtok: m.inputPerMtok,
        outputPerMtok: m.outputPerMtok,
      });
    }
    await writeAudit(tx, actor, {
      action: 'catalog.seed',
      targetType: 'supplier',
      targetId: catalog.supplier.id,
      orgId: null,
      after: { supplier: catalog.supplier, models: catalog.models },
    });
    await bumpManifestVersion(tx);
  });
}
