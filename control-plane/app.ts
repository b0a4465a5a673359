// The control plane's HTTP app: middleware order, route mounting, and the one place errors
// become responses. Everything that varies (database, clock, logger) is passed in.

import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError, ERRORS, errorBody } from '../shared/errors.ts';
import { newRequestId } from '../shared/ids.ts';
import { adminAuth } from './admin-auth.ts';
import { openApiDocument } from './api-spec.ts';
import { idempotency } from './idempotency.ts';
import type { Keyring } from './credentials/keyring.ts';
import type { Database } from './db.ts';
import type { Logger } from './log.ts';
import type { ManifestPublisher } from './manifest/publisher.ts';
import type { AppEnv } from './request-context.ts';
import { API_SPECS } from './routes/all-specs.ts';
import { auditRoutes } from './routes/audit.ts';
import { edgeNodeRoutes } from './routes/edge-nodes.ts';
import { invitationAcceptRoutes } from './routes/invitation-accept.ts';
import { invitationRoutes } from './routes/invitations.ts';
import { keyRoutes } from './routes/keys.ts';
import { memberRoutes } from './routes/members.ts';
import { nodeApiRoutes } from './routes/node-api.ts';
import { nodeCredentialRoutes } from './routes/node-credentials.ts';
import { nodeAllowanceRoutes } from './routes/node-allowances.ts';
import { createAllowanceService } from './allowances.ts';
import { orgRoutes } from './routes/orgs.ts';
import { modelRouteRoutes } from './routes/model-routes.ts';
import { modelRoutes } from './routes/models.ts';
import { orgSuspensionRoutes } from './routes/org-suspension.ts';
import { priceRoutes } from './routes/prices.ts';
import { credentialRoutes } from './routes/supplier-credentials.ts';
import { supplierRoutes } from './routes/suppliers.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { userAccessRoutes } from './routes/user-access.ts';
import { userRoutes } from './routes/users.ts';
import { usageRoutes } from './routes/usage.ts';
import type { StripeGateway } from './billing/stripe-gateway.ts';
import { stripeWebhookRoutes } from './routes/stripe-webhook.ts';
import { topupRoutes } from './routes/topups.ts';
import { walletRoutes } from './routes/wallet.ts';

export interface ControlPlaneDeps {
  db: Database;
  manifest: ManifestPublisher;
  now: () => Date;
  log: Logger;
  /** The peer address of a request, for the audit log; null where there is no socket (tests). */
  clientAddress?: (env: unknown) => string | null;
  /** KEKs for provider credentials; absent or null → credential writes answer 503 not_configured. */
  credentialKeys?: Keyring | null;
  /** Stripe top-ups; absent or null → top-ups and the Stripe webhook answer 503 not_configured. */
  stripe?: StripeGateway | null;
}

const MAX_MANAGEMENT_BODY_BYTES = 1024 * 1024;

export function createControlPlaneApp(deps: ControlPlaneDeps) {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    const started = performance.now();
    c.set('requestId', newRequestId(deps.now().getTime()));
    c.set('clientAddr', deps.clientAddress?.(c.env) ?? null);
    c.header('x-request-id', c.get('requestId'));
    await next();
    deps.log('info', 'request', {
      request_id: c.get('requestId'),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });

  app.get('/healthz', async (c) => {
    await deps.db.query('SELECT 1');
    return c.json({ ok: true });
  });
  const openApi = openApiDocument(API_SPECS, { title: 'TaaS gateway control plane', version: '0.1.0' });
  app.get('/openapi.json', (c) => c.json(openApi));

  const manage = new Hono<AppEnv>()
    .use(
      bodyLimit({
        maxSize: MAX_MANAGEMENT_BODY_BYTES,
        onError: () => {
          throw new ApiError('payload_too_large', `Request bodies may not exceed ${MAX_MANAGEMENT_BODY_BYTES} bytes.`);
        },
      }),
    )
    // Accepting an invitation for a new address has no management token yet (the invitation
    // token is the credential), so this one route is mounted before adminAuth; it authenticates
    // an existing account itself.
    .route('/invitations', invitationAcceptRoutes(deps))
    .use(adminAuth(deps.db))
    .use(idempotency(deps.db))
    .route('/orgs', orgRoutes(deps))
    .route('/keys', keyRoutes(deps))
    .route('/edge-nodes', edgeNodeRoutes(deps))
    .route('/audit', auditRoutes(deps))
    .route('/usage', usageRoutes(deps))
    .route('/users', userRoutes(deps))
    .route('/users', userAccessRoutes(deps))
    .route('/orgs', memberRoutes(deps))
    .route('/', invitationRoutes(deps))
    .route('/tokens', tokenRoutes(deps))
    .route('/suppliers', supplierRoutes(deps))
    .route('/models', modelRoutes(deps))
    .route('/models', priceRoutes(deps))
    .route('/', modelRouteRoutes(deps))
    .route('/', credentialRoutes(deps))
    .route('/orgs', orgSuspensionRoutes(deps))
    .route('/orgs', walletRoutes(deps))
    .route('/orgs', topupRoutes(deps));
  app.route('/v1/manage', manage);
  // Stripe authenticates with its signature over the raw body, not a management token.
  app.route('/v1/stripe', stripeWebhookRoutes(deps));
  // Before nodeApiRoutes: its router-wide node auth would otherwise run a second time here.
  app.route('/node/v1', nodeCredentialRoutes(deps));
  app.route('/node/v1', nodeAllowanceRoutes({ ...deps, allowances: createAllowanceService(deps) }));
  app.route('/node/v1', nodeApiRoutes(deps));

  app.notFound((c) => c.json(errorBody('not_found', `No route for ${c.req.method} ${c.req.path}.`, { requestId: c.get('requestId') }), 404));

  app.onError((err, c) => {
    const requestId = c.get('requestId') ?? null;
    if (err instanceof ApiError) {
      for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
      return c.json(errorBody(err.code, err.message, { param: err.param, requestId }), err.status);
    }
    // Unknown errors: the detail goes to the log only; the client gets a generic 500.
    deps.log('error', 'unhandled error', { request_id: requestId, error: err instanceof Error ? err.stack ?? err.message : String(err) });
    return c.json(errorBody('internal_error', 'Internal error.', { requestId }), ERRORS.internal_error.status);
  });

  return app;
}
