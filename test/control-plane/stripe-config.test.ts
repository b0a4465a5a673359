// STRIPE_* configuration: both secrets or neither, and the secret key only ever sent over https
// (or to a loopback fake).

import { describe, expect, it } from 'vitest';
import { ConfigError, loadStripeSettings } from '../../control-plane/config.ts';

describe('Stripe configuration', () => {
  it('is off without secrets, and refuses one secret without the other', () => {
    expect(loadStripeSettings({})).toBeNull();
    expect(() => loadStripeSettings({ STRIPE_SECRET_KEY: 'sk_test_1' })).toThrow(ConfigError);
    expect(() => loadStripeSettings({ STRIPE_WEBHOOK_SECRET: 'whsec_1' })).toThrow(ConfigError);
  });

  it('talks to api.stripe.com by default, and to a plain-http base only on loopback', () => {
    const secrets = { STRIPE_SECRET_KEY: 'sk_test_1', STRIPE_WEBHOOK_SECRET: 'whsec_1' };
    expect(loadStripeSettings(secrets)?.apiBase).toBe('https://api.stripe.com');
    expect(loadStripeSettings({ ...secrets, STRIPE_API_BASE: 'http://127.0.0.1:12111' })?.apiBase).toBe('http://127.0.0.1:12111');
    expect(() => loadStripeSettings({ ...secrets, STRIPE_API_BASE: 'http://stripe.example.com' })).toThrow(/https/);
    expect(() => loadStripeSettings({ ...secrets, STRIPE_API_BASE: 'not a url' })).toThrow(ConfigError);
  });

  it('never puts a secret into its error messages', () => {
    let message = '';
    try {
      loadStripeSettings({ STRIPE_SECRET_KEY: 'sk_live_very_secret' });
    } catch (error) {
      message = String(error);
    }
    expect(message).toMatch(/set together/);
    expect(message).not.toContain('sk_live_very_secret');
  });
});
