// /v1/manage/suppliers/:id/credentials and /v1/manage/credentials/:id/retire: a supplier's API
// keys and OAuth grants. Secrets go in and are sealed at once (credentials/envelope.ts); no answer,
// log or audit row ever holds one. Writes: platform owner; metadata reads: platform staff.
// Mounted at /v1/manage because its paths span two resources.

import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import { requireCatalog } from '../catalog-access.ts';
import { pathCatalogId, SupplierId } from '../catalog-ids.ts';
import type { Keyring } from '../credentials/keyring.ts';
import { sealSecret } from '../credentials/secret-store.ts';
import type { Database, Queryable } from '../db.ts';
import { OutboundUrl } from '../outbound-url.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { deleteSecrets } from '../sql/credential-secrets.ts';
import { countRoutesPinning, findCredential, insertCredential, listCredentials, retireCredential, type CredentialRow } from '../sql/credentials.ts';
import { findSupplier } from '../sql/suppliers.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';
import { isoTimestamp } from '../../shared/timestamp.ts';

// Printable ASCII without spaces: what API keys and RFC 6749 tokens are made of; a pasted
// newline or space is refused rather than stored. Messages never echo the value.
const Secret = z.string().regex(/^[\x21-\x7e]{8,8192}$/, 'printable ASCII without spaces, 8 to 8192 characters');

export const CreateCredential = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('api_key'), api_key: Secret }),
  z.strictObject({
    kind: z.literal('oauth'),
    access_token: Secret,
    refresh_token: Secret,
    access_token_expires_at: isoTimestamp({ offset: true }),
    token_url: OutboundUrl,
    // RFC 6749 Appendix A.1: a client id is VSCHARs (printable ASCII, space included).
    client_id: z.string().regex(/^[\x20-\x7e]{1,255}$/, 'printable ASCII; at most 255'),
    client_secret: Secret.optional(),
  }),
]);

export const credentialSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/suppliers/:id/credentials', summary: 'Add an API key or OAuth grant, encrypted at rest (platform owner)', tag: 'credentials', access: 'admin', body: CreateCredential, success: { status: 201, description: 'Metadata only, never the secret' } },
  { method: 'get', path: '/v1/manage/suppliers/:id/credentials', summary: "List a supplier's credentials, metadata only (platform staff)", tag: 'credentials', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of credential metadata' } },
  { method: 'post', path: '/v1/manage/credentials/:id/retire', summary: 'Retire a credential and destroy its secrets (platform owner; idempotent)', tag: 'credentials', access: 'admin', success: { status: 200, description: 'The retired credential' } },
];

function present(row: CredentialRow) {
  return {
    object: 'supplier_credential' as const,
    id: row.id,
    supplier_id: row.supplier_id,
    kind: row.kind,
    status: row.status,
    hint: row.hint === null ? null : `…${row.hint}`,
    token_url: row.token_url,
    client_id: row.client_id,
    access_token_expires_at: row.access_token_expires_at?.toISOString() ?? null,
    refreshed_at: row.refreshed_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    retired_at: row.retired_at?.toISOString() ?? null,
  };
}

/** The last 4 characters, to tell keys apart in a listing; only for keys long enough that 4 characters give little away. */
const hintOf = (apiKey: string): string | null => (apiKey.length >= 16 ? apiKey.slice(-4) : null);

/** Each secret of the body into its own envelope: the API key, or the OAuth access token, refresh token and client secret. */
async function sealAll(tx: Queryable, keyring: Keyring, id: string, body: z.infer<typeof CreateCredential>): Promise<void> {
  if (body.kind === 'api_key') return sealSecret(tx, keyring, id, 'secret', body.api_key);
  await sealSecret(tx, keyring, id, 'secret', body.access_token);
  await sealSecret(tx, keyring, id, 'refresh_token', body.refresh_token);
  if (body.client_secret !== undefined) await sealSecret(tx, keyring, id, 'client_secret', body.client_secret);
}

function requireKeyring(keyring: Keyring | null): Keyring {
  if (keyring) return keyring;
  throw new ApiError('not_configured', 'Credential encryption is not configured on this control plane (CREDENTIAL_KEKS).');
}

export function credentialRoutes(deps: { db: Database; now: () => Date; credentialKeys?: Keyring | null }) {
  return new Hono<AppEnv>()
    .post('/suppliers/:id/credentials', async (c) => {
      const body = await parseJsonBody(c, CreateCredential);
      requireCatalog(c.get('principal'), 'credentials');
      const supplierId = pathCatalogId(c, SupplierId, 'supplier');
      const keyring = requireKeyring(deps.credentialKeys ?? null);
      const id = uuidv7(deps.now().getTime());
      const credential = await deps.db.transaction(async (tx) => {
        if (!(await findSupplier(tx, supplierId))) throw new ApiError('not_found', 'No such supplier.');
        const oauth = body.kind === 'oauth' ? { tokenUrl: body.token_url, clientId: body.client_id, accessTokenExpiresAt: body.access_token_expires_at } : null;
        const created = await insertCredential(tx, { id, supplierId, kind: body.kind, hint: body.kind === 'api_key' ? hintOf(body.api_key) : null, oauth });
        await sealAll(tx, keyring, id, body);
        await writeAudit(tx, actorOf(c), { action: 'credential.create', targetType: 'supplier_credential', targetId: id, orgId: null, after: present(created) });
        return created;
      });
      return c.json(present(credential), 201);
    })
    .get('/suppliers/:id/credentials', async (c) => {
      const query = parseQuery(c, PageQuery);
      requireCatalog(c.get('principal'), 'read');
      const supplierId = pathCatalogId(c, SupplierId, 'supplier');
      if (!(await findSupplier(deps.db, supplierId))) throw new ApiError('not_found', 'No such supplier.');
      const rows = await listCredentials(deps.db, { supplierId, after: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, present));
    })
    .post('/credentials/:id/retire', async (c) => {
      requireCatalog(c.get('principal'), 'credentials');
      const id = pathUuid(c, 'id', 'credential');
      const credential = await deps.db.transaction(async (tx) => {
        const current = await findCredential(tx, id, { forUpdate: true });
        if (!current) throw new ApiError('not_found', 'No such credential.');
        // Retiring a retired credential changes nothing: no audit row.
        if (current.status === 'retired') return current;
        const pinned = await countRoutesPinning(tx, id);
        if (pinned > 0) throw new ApiError('conflict', `${pinned} route(s) pin this credential; re-pin or unpin them first.`);
        const retired = await retireCredential(tx, id);
        await deleteSecrets(tx, id);
        await writeAudit(tx, actorOf(c), { action: 'credential.retire', targetType: 'supplier_credential', targetId: id, orgId: null, before: present(current), after: present(retired) });
        return retired;
      });
      return c.json(present(credential));
    });
}
