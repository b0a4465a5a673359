// A local stand-in for Stripe's API and webhooks, for tests: a real HTTP server on loopback that
// answers Checkout Session create (form-encoded, as the `stripe` package sends it) and retrieve in
// Stripe's JSON shapes, and delivers events signed with Stripe's real scheme
// (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`), computed here
// independently of the `stripe` package so the control plane's verification is really tested.

import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { serve, type ServerType } from '@hono/node-server';
import { generateKeyPair } from 'jose';
import { createControlPlaneApp } from '../../control-plane/app.ts';
import { createStripeGateway } from '../../control-plane/billing/stripe-gateway.ts';
import type { Database } from '../../control-plane/db.ts';
import { silentLogger, type Logger } from '../../control-plane/log.ts';
import { createManifestPublisher } from '../../control-plane/manifest/publisher.ts';

export const FAKE_SECRET_KEY = 'sk_test_fake_0123456789';
export const FAKE_WEBHOOK_SECRET = 'whsec_fake_0123456789abcdef';

export interface FakeSession {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number;
  amount_total: number;
  currency: string;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  mode: string;
  payment_status: 'unpaid' | 'paid' | 'no_payment_required';
  status: 'open' | 'complete' | 'expired';
  url: string | null;
  success_url: string | null;
  cancel_url: string | null;
  invoice: string | null;
  invoice_creation: { enabled: boolean; invoice_data: Record<string, unknown> } | null;
  payment_intent: string | null;
  created: number;
  expires_at: number;
  livemode: false;
  line_items_received: unknown;
}

export interface FakeStripe {
  /** e.g. http://127.0.0.1:41234 — STRIPE_API_BASE. */
  url: string;
  sessions: Map<string, FakeSession>;
  /** Every API request received: method, path, parsed form body, headers of interest. */
  requests: { method: string; path: string; body: Record<string, unknown>; idempotencyKey: string | null; authorization: string | null }[];
  /** The customer pays: the session becomes complete (and paid, unless the method is delayed). */
  pay(sessionId: string, options?: { delayed?: boolean }): FakeSession;
  /** A Stripe event around a copy of the session as it is now. */
  /** An event carrying a session, or any other object (a charge, a dispute). */
  event(type: string, object: FakeSession | Record<string, unknown>, options?: { id?: string }): { id: string; type: string; [k: string]: unknown };
  /** The charge of a paid session with `refunded` cents refunded so far, as charge.refunded carries it. */
  charge(session: FakeSession, refunded: number): Record<string, unknown>;
  /** A dispute of a paid session's charge over `amount` cents. */
  dispute(session: FakeSession, amount: number, status?: string): Record<string, unknown>;
  /** Stripe's signature header for these exact bytes. */
  sign(payload: string, options?: { secret?: string; timestamp?: number }): string;
  /** POSTs the event to `url` as Stripe does; `body` overrides the bytes sent, `signature` the header. */
  deliver(url: string, event: unknown, options?: { secret?: string; timestamp?: number; body?: string; signature?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

/** `a[b][0][c]=v` form fields into nested objects and arrays, as Stripe reads them. */
export function parseStripeForm(text: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const path = key.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> | unknown[] = root;
    path.forEach((part, i) => {
      const last = i === path.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(path[i + 1]!);
      const slot = Array.isArray(node) ? Number(part) : part;
      const container = node as Record<string | number, unknown>;
      if (last) container[slot] = value;
      else node = (container[slot] ??= nextIsIndex ? [] : {}) as Record<string, unknown> | unknown[];
    });
  }
  return root;
}

const stripeId = (prefix: string) => `${prefix}_test_${randomBytes(12).toString('hex')}`;

function stripeError(res: ServerResponse, status: number, error: { type: string; message: string; code?: string; param?: string }) {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': stripeId('req') });
  res.end(JSON.stringify({ error }));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeStripe(options: { secretKey?: string; webhookSecret?: string } = {}): Promise<FakeStripe> {
  const secretKey = options.secretKey ?? FAKE_SECRET_KEY;
  const webhookSecret = options.webhookSecret ?? FAKE_WEBHOOK_SECRET;
  const sessions = new Map<string, FakeSession>();
  const idempotent = new Map<string, string>();
  const requests: FakeStripe['requests'] = [];

  function createSession(body: Record<string, unknown>): FakeSession | { error: string; param: string } {
    if (body.mode !== 'payment') return { error: 'Only payment mode is faked.', param: 'mode' };
    const items = body.line_items as { quantity?: string; price_data?: { currency?: string; unit_amount?: string } }[] | undefined;
    if (!Array.isArray(items) || items.length === 0) return { error: 'line_items is required in payment mode.', param: 'line_items' };
    if (typeof body.success_url !== 'string') return { error: 'success_url is required.', param: 'success_url' };
    let total = 0;
    const currencies = new Set<string>();
    for (const item of items) {
      const amount = Number(item.price_data?.unit_amount);
      const quantity = Number(item.quantity ?? 1);
      if (!Number.isInteger(amount) || amount < 50 || !Number.isInteger(quantity)) return { error: 'Invalid unit_amount.', param: 'line_items' };
      total += amount * quantity;
      currencies.add(item.price_data?.currency ?? '');
    }
    if (currencies.size !== 1) return { error: 'Line items must share one currency.', param: 'line_items' };
    const invoiceCreation = body.invoice_creation as { enabled?: string; invoice_data?: Record<string, unknown> } | undefined;
    const id = stripeId('cs');
    const created = Math.floor(Date.now() / 1000);
    const session: FakeSession = {
      id,
      object: 'checkout.session',
      amount_subtotal: total,
      amount_total: total,
      currency: [...currencies][0]!,
      client_reference_id: (body.client_reference_id as string | undefined) ?? null,
      metadata: (body.metadata as Record<string, string> | undefined) ?? {},
      mode: 'payment',
      payment_status: 'unpaid',
      status: 'open',
      url: `https://checkout.stripe.test/c/pay/${id}`,
      success_url: body.success_url,
      cancel_url: (body.cancel_url as string | undefined) ?? null,
      invoice: null,
      invoice_creation: invoiceCreation ? { enabled: invoiceCreation.enabled === 'true', invoice_data: invoiceCreation.invoice_data ?? {} } : null,
      payment_intent: null,
      created,
      expires_at: created + 24 * 3600,
      livemode: false,
      line_items_received: items,
    };
    sessions.set(id, session);
    return session;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const text = await readBody(req);
    const body = req.headers['content-type']?.includes('application/x-www-form-urlencoded') ? parseStripeForm(text) : {};
    const idempotencyKey = (req.headers['idempotency-key'] as string | undefined) ?? null;
    requests.push({ method: req.method ?? '', path, body, idempotencyKey, authorization: req.headers.authorization ?? null });
    if (req.headers.authorization !== `Bearer ${secretKey}`) {
      return stripeError(res, 401, { type: 'invalid_request_error', message: 'Invalid API Key provided.' });
    }
    if (req.method === 'POST' && path === '/v1/checkout/sessions') {
      const replay = idempotencyKey ? idempotent.get(idempotencyKey) : undefined;
      const session = replay ? sessions.get(replay)! : createSession(body);
      if ('error' in session) return stripeError(res, 400, { type: 'invalid_request_error', code: 'parameter_missing', message: session.error, param: session.param });
      if (idempotencyKey) idempotent.set(idempotencyKey, session.id);
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': stripeId('req') });
      return res.end(JSON.stringify(session));
    }
    const retrieve = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && retrieve) {
      const session = sessions.get(decodeURIComponent(retrieve[1]!));
      if (!session) return stripeError(res, 404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such checkout.session: '${retrieve[1]}'`, param: 'session' });
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': stripeId('req') });
      return res.end(JSON.stringify(session));
    }
    return stripeError(res, 404, { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${path}).` });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => stripeError(res, 500, { type: 'api_error', message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('fake stripe: no port');

  const sign: FakeStripe['sign'] = (payload, o = {}) => {
    const t = o.timestamp ?? Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', o.secret ?? webhookSecret).update(`${t}.${payload}`, 'utf8').digest('hex');
    return `t=${t},v1=${v1}`;
  };

  return {
    url: `http://127.0.0.1:${address.port}`,
    sessions,
    requests,
    pay(sessionId, o = {}) {
      const session = sessions.get(sessionId);
      if (!session) throw new Error(`fake stripe: no session ${sessionId}`);
      session.status = 'complete';
      session.payment_status = o.delayed ? 'unpaid' : 'paid';
      session.payment_intent = stripeId('pi');
      if (session.invoice_creation?.enabled && !o.delayed) session.invoice = stripeId('in');
      return session;
    },
    charge(session, refunded) {
      return {
        id: `ch_${session.payment_intent}`,
        object: 'charge',
        amount: session.amount_total,
        amount_captured: session.amount_total,
        amount_refunded: refunded,
        currency: session.currency,
        paid: true,
        payment_intent: session.payment_intent,
        refunded: refunded === session.amount_total,
        status: 'succeeded',
      };
    },
    dispute(session, amount, status = 'needs_response') {
      return {
        id: stripeId('dp'),
        object: 'dispute',
        amount,
        charge: `ch_${session.payment_intent}`,
        currency: session.currency,
        payment_intent: session.payment_intent,
        reason: 'fraudulent',
        status,
      };
    },
    event(type, object, o = {}) {
      return {
        id: o.id ?? stripeId('evt'),
        object: 'event',
        api_version: '2026-10-28.endive',
        created: Math.floor(Date.now() / 1000),
        data: { object: structuredClone(object) },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type,
      };
    },
    sign,
    async deliver(url, event, o = {}) {
      const payload = JSON.stringify(event, null, 2);
      const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' };
      const signature = o.signature === undefined ? sign(payload, o) : o.signature;
      if (signature !== null) headers['stripe-signature'] = signature;
      return fetch(url, { method: 'POST', headers, body: o.body ?? payload });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The harness's database served by a control plane that talks to this fake (the harness's own app
 * has no Stripe), on a real loopback port so webhooks arrive over HTTP with their raw bytes.
 */
export async function serveWithStripe(
  db: Database,
  fake: FakeStripe,
  options: { log?: Logger; now?: () => Date; webhookSecret?: string } = {},
): Promise<{ url: string; webhookUrl: string; app: ReturnType<typeof createControlPlaneApp>; close(): Promise<void> }> {
  const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const now = options.now ?? (() => new Date());
  const manifest = createManifestPublisher({ db, signingKey: { kid: 'stripe-test', privateKey: signing.privateKey }, ttlSeconds: 600, nowSeconds: () => Math.floor(now().getTime() / 1000) });
  const stripe = createStripeGateway({
    secretKey: FAKE_SECRET_KEY,
    webhookSecret: options.webhookSecret ?? FAKE_WEBHOOK_SECRET,
    apiBase: fake.url,
    successUrl: 'http://localhost/topup/success',
    cancelUrl: 'http://localhost/topup/cancelled',
  });
  const app = createControlPlaneApp({ db, manifest, now, log: options.log ?? silentLogger, stripe });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('serveWithStripe: no port');
  const url = `http://127.0.0.1:${address.port}`;
  return { url, webhookUrl: `${url}/v1/stripe/webhook`, app, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
