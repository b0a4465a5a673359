// One OAuth 2.0 refresh-token grant (RFC 6749 §6): a form-encoded POST to the token endpoint,
// answered by a token response (§5.1) or an error response (§5.2). Outcomes are values; nothing
// here logs, and a failure carries no token and no response body (either may hold a secret).

export type TokenGrant = { tokenUrl: string; clientId: string; clientSecret: string | null; refreshToken: string };

export type RefreshFailure = 'network' | 'timeout' | 'http_status' | 'bad_response';

export type RefreshOutcome =
  | { ok: true; accessToken: string; expiresInSeconds: number; refreshToken: string | null }
  | { ok: false; failure: RefreshFailure; status: number | null; oauthError: string | null };

/** RFC 6749 §5.1 makes expires_in optional; without it we assume an hour and simply refresh early. */
const DEFAULT_EXPIRES_IN_SECONDS = 3600;
const MAX_RESPONSE_BYTES = 64 * 1024;
const TOKEN = /^[\x21-\x7e]{1,8192}$/;
const OAUTH_ERROR_CODE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

function basicAuth(clientId: string, clientSecret: string): string {
  // §2.3.1: client id and secret are form-urlencoded before they are joined and base64-encoded.
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${btoa(`${encode(clientId)}:${encode(clientSecret)}`)}`;
}

async function readCapped(res: Response): Promise<string | null> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function parseJson(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A positive whole number of seconds; some servers send it as a numeric string. null = malformed. */
function expiresInSeconds(value: unknown): number | null {
  if (value === undefined) return DEFAULT_EXPIRES_IN_SECONDS;
  const seconds = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;
  return typeof seconds === 'number' && Number.isInteger(seconds) && seconds > 0 ? seconds : null;
}

export async function requestTokenRefresh(
  fetchFn: typeof fetch,
  grant: TokenGrant,
  options: { timeoutMs: number },
): Promise<RefreshOutcome> {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  // A confidential client authenticates with HTTP Basic (which §2.3.1 requires servers to accept);
  // a public client identifies itself with client_id in the body (§3.2.1).
  if (grant.clientSecret !== null) headers.authorization = basicAuth(grant.clientId, grant.clientSecret);
  else form.set('client_id', grant.clientId);

  let res: Response;
  try {
    res = await fetchFn(grant.tokenUrl, { method: 'POST', headers, body: form.toString(), redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (error) {
    const name = (error as { name?: unknown } | null)?.name;
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    return { ok: false, failure: timedOut ? 'timeout' : 'network', status: null, oauthError: null };
  }
  const body = parseJson(await readCapped(res).catch(() => null));
  if (!res.ok) {
    const code = typeof body?.error === 'string' && OAUTH_ERROR_CODE.test(body.error) ? body.error : null;
    return { ok: false, failure: 'http_status', status: res.status, oauthError: code };
  }
  const { access_token: accessToken, refresh_token: refreshToken } = body ?? {};
  const expiresIn = expiresInSeconds(body?.expires_in);
  if (typeof accessToken !== 'string' || !TOKEN.test(accessToken) || expiresIn === null || (refreshToken !== undefined && (typeof refreshToken !== 'string' || !TOKEN.test(refreshToken)))) {
    return { ok: false, failure: 'bad_response', status: res.status, oauthError: null };
  }
  return { ok: true, accessToken, expiresInSeconds: expiresIn, refreshToken: typeof refreshToken === 'string' ? refreshToken : null };
}
