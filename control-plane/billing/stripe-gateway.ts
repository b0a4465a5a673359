// Our two uses of Stripe, through the official `stripe` package: creating a Checkout Session for a
// top-up, and verifying a webhook's signature. Nothing else in the control plane imports `stripe`.
// Failures come back as values; the secret key never appears in one.

import Stripe from 'stripe';
import { formatUsd } from '../../shared/money.ts';
import { MICROS_PER_CENT, type TopupSplit } from './topup-amounts.ts';

export interface StripeSettings {
  /** sk_… key; never logged. */
  secretKey: string;
  /** whsec_… webhook signing secret; never logged. */
  webhookSecret: string;
  /** Where the API lives: https://api.stripe.com, or a local fake in tests. */
  apiBase: string;
  /** Where Checkout sends the customer after paying / cancelling. */
  successUrl: string;
  cancelUrl: string;
}

export interface CheckoutSession {
  id: string;
  url: string;
}

export type CreateSessionResult =
  | { ok: true; session: CheckoutSession }
  /** unreachable: no answer (network, timeout); refused: Stripe answered an error. */
  | { ok: false; failure: 'unreachable' | 'refused'; detail: string };

export type VerifiedWebhook =
  | { ok: true; event: unknown }
  | { ok: false; denial: 'missing_signature' | 'bad_signature' | 'stale' | 'malformed' };

export interface StripeGateway {
  createCheckoutSession(input: { topupId: string; orgId: string; split: TopupSplit }): Promise<CreateSessionResult>;
  /** The event, when `signature` is Stripe's valid signature of exactly these bytes, made within the default tolerance (300 s) of `now`. */
  verifyWebhook(payload: Buffer, signature: string | undefined, now: Date): VerifiedWebhook;
}

export function createStripeGateway(settings: StripeSettings): StripeGateway {
  const base = new URL(settings.apiBase);
  const protocol = base.protocol === 'http:' ? 'http' : 'https';
  const stripe = new Stripe(settings.secretKey, {
    host: base.hostname,
    port: base.port === '' ? (protocol === 'http' ? 80 : 443) : Number(base.port),
    protocol,
    telemetry: false,
    maxNetworkRetries: 2,
    timeout: 20_000,
  });

  return {
    async createCheckoutSession({ topupId, orgId, split }) {
      const metadata = { topup_id: topupId, org_id: orgId };
      try {
        const session = await stripe.checkout.sessions.create(
          {
            mode: 'payment',
            client_reference_id: topupId,
            metadata,
            line_items: [
              {
                quantity: 1,
                price_data: {
                  currency: 'usd',
                  unit_amount: split.paidMicros / MICROS_PER_CENT,
                  product_data: {
                    name: 'Prepaid API credit',
                    description: `$${formatUsd(split.creditMicros)} of credit plus a $${formatUsd(split.feeMicros)} (5%) top-up fee`,
                  },
                },
              },
            ],
            // One invoice per top-up (PRODUCT.md §5).
            invoice_creation: { enabled: true, invoice_data: { metadata, description: `Prepaid credit top-up ${topupId}` } },
            payment_intent_data: { metadata },
            success_url: settings.successUrl,
            cancel_url: settings.cancelUrl,
          },
          // Covers the package's own network retries: Stripe creates one session for this top-up.
          { idempotencyKey: `topup-${topupId}` },
        );
        if (!session.url) return { ok: false, failure: 'refused', detail: 'the session has no url' };
        return { ok: true, session: { id: session.id, url: session.url } };
      } catch (error) {
        if (error instanceof Stripe.errors.StripeConnectionError) return { ok: false, failure: 'unreachable', detail: error.message };
        if (error instanceof Stripe.errors.StripeError) return { ok: false, failure: 'refused', detail: `${error.type}: ${error.code ?? ''} ${error.message}` };
        throw error;
      }
    },

    verifyWebhook(payload, signature, now) {
      if (!signature) return { ok: false, denial: 'missing_signature' };
      try {
        const event = Stripe.webhooks.constructEvent(payload, signature, settings.webhookSecret, undefined, undefined, now.getTime());
        return { ok: true, event };
      } catch (error) {
        if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
          return { ok: false, denial: /tolerance/i.test(error.message) ? 'stale' : 'bad_signature' };
        }
        // A correctly signed body that is not JSON.
        if (error instanceof SyntaxError) return { ok: false, denial: 'malformed' };
        throw error;
      }
    },
  };
}
