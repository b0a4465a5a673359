// Waiting for work another request may be doing (a shared manifest load, a shared credential
// fetch, an allowance round), woken only by timers of the waiting request's own. workerd hands a
// promise another request settles back to the waiting one, but under load the waiting request
// then ran on with the settling request's async context, and its next I/O failed with "Cannot
// perform I/O on behalf of a different request" (found in admission: README "Status"). The
// other request only records an outcome; the waiting request resumes from its own setTimeout.

const POLL_MS = 1;

/**
 * Polls `outcome` on this request's own 1 ms timers until it answers something other than null;
 * null after `timeoutMs` if it never does (the caller decides what that means).
 */
export async function untilOnOwnTimers<T>(outcome: () => T | null, options: { timeoutMs?: number } = {}): Promise<T | null> {
  const startedMs = Date.now();
  for (;;) {
    const found = outcome();
    if (found !== null) return found;
    if (options.timeoutMs !== undefined && Date.now() - startedMs >= options.timeoutMs) return null;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Resolves with the shared promise's value (or rejects with its error) once it has settled, or
 * resolves `undefined` after `timeoutMs` if it has not: the caller goes on without it.
 */
export async function settledOnOwnTimers<T>(shared: Promise<T>, options: { timeoutMs?: number } = {}): Promise<T | undefined> {
  let settled: Settled<T> | null = null;
  shared.then(
    (value) => void (settled = { ok: true, value }),
    (error: unknown) => void (settled = { ok: false, error }),
  );
  const outcome = await untilOnOwnTimers(() => settled, options);
  if (outcome === null) return undefined;
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}
