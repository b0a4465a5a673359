// Per-key policy: which models a key may call and through which routes. Pure functions of the
// key and the manifest; a denial is a value naming the restriction, so the 403 can say which.

import type { ErrorCode } from '../shared/errors.ts';
import type { KeyEntry, ManifestPayload, ModelEntry, RouteEntry } from '../shared/manifest.ts';

export type Admission =
  | { ok: true; model: ModelEntry; routes: RouteEntry[] }
  | { ok: false; code: ErrorCode; message: string; param?: string };

/** Empty or absent: everything. */
function allows<T>(list: readonly T[] | undefined, item: T): boolean {
  return list === undefined || list.length === 0 || list.includes(item);
}

/** The key's own allowlist and its owner's in the org both apply (control-plane: owner limits). */
const regionAllowed = (key: KeyEntry, r: RouteEntry) => allows(key.allowed_regions, r.region) && allows(key.owner_allowed_regions, r.region);
const supplierAllowed = (key: KeyEntry, r: RouteEntry) =>
  allows(key.allowed_suppliers, r.supplier_id) && allows(key.owner_allowed_suppliers, r.supplier_id);

/** The restriction as the 403 names it: the key's list, and the owner's when it has one. */
function restriction(own: readonly string[], owner: readonly string[] | undefined): string {
  const lists = [own.length > 0 ? own.join(', ') : null, owner?.length ? `its owner's: ${owner.join(', ')}` : null];
  return lists.filter((l) => l !== null).join('; ');
}

/** The routes of a model this key may use, best priority first. */
export function routesForKey(key: KeyEntry, model: ModelEntry): RouteEntry[] {
  return model.routes.filter((r) => regionAllowed(key, r) && supplierAllowed(key, r)).sort((a, b) => a.priority - b.priority);
}

/** A key of a suspended (or unknown) org may do nothing at all. */
export function orgActive(key: KeyEntry, manifest: ManifestPayload): boolean {
  return manifest.orgs[key.org_id]?.status === 'active';
}

export const ORG_SUSPENDED_MESSAGE = 'The organisation of this key is suspended.';

export function admit(key: KeyEntry, manifest: ManifestPayload, modelId: string): Admission {
  if (!orgActive(key, manifest)) return { ok: false, code: 'org_suspended', message: ORG_SUSPENDED_MESSAGE };
  const model = Object.hasOwn(manifest.models, modelId) ? manifest.models[modelId] : undefined;
  if (!model) return { ok: false, code: 'model_not_found', message: `The model '${modelId}' does not exist.`, param: 'model' };
  if (!allows(key.allowed_models, modelId)) {
    return { ok: false, code: 'model_not_allowed', message: `This API key may not use the model '${modelId}' (allowed_models).`, param: 'model' };
  }
  if (!allows(key.owner_allowed_models, modelId)) {
    return { ok: false, code: 'model_not_allowed', message: `The owner of this API key may not use the model '${modelId}' (allowed_models).`, param: 'model' };
  }
  // No price in force: the request could not be billed, and serving it would give it away (a
  // price of 0 is how a model is offered free). The catalog is incomplete, not the client wrong.
  if (model.pricing === null) {
    return { ok: false, code: 'not_configured', message: `The model '${modelId}' has no price yet, so it cannot be served. Try again later.` };
  }
  const byRegion = model.routes.filter((r) => regionAllowed(key, r));
  if (model.routes.length > 0 && byRegion.length === 0) {
    return {
      ok: false,
      code: 'region_not_allowed',
      message: `The model '${modelId}' is not served in this key's allowed regions (${restriction(key.allowed_regions, key.owner_allowed_regions)}).`,
    };
  }
  const routes = routesForKey(key, model);
  if (byRegion.length > 0 && routes.length === 0) {
    return {
      ok: false,
      code: 'supplier_not_allowed',
      message: `The model '${modelId}' has no supplier among this key's allowed suppliers (${restriction(key.allowed_suppliers, key.owner_allowed_suppliers)}).`,
    };
  }
  if (routes.length === 0) return { ok: false, code: 'upstream_failed', message: `The model '${modelId}' has no supplier configured.` };
  return { ok: true, model, routes };
}

/** Models a key may call: allowed by name and reachable through at least one allowed route. */
export function visibleModels(key: KeyEntry, manifest: ManifestPayload): ModelEntry[] {
  return Object.values(manifest.models).filter((m) => admit(key, manifest, m.id).ok);
}

/** The kind of API surface a model serves: its catalog `type` (control-plane/routes/models.ts). */
export type SurfaceType = 'chat' | 'embedding' | 'rerank' | 'transcription' | 'speech';

/** Null when the model serves this surface; else the 400's message naming the model's type. */
export function surfaceMismatch(model: ModelEntry, surface: SurfaceType): string | null {
  if (model.type === surface) return null;
  return `The model '${model.id}' is a ${model.type} model; this endpoint serves ${surface} models.`;
}
