// Waiting for work another request may be doing (a shared manifest load, a shared credential
// fetch), woken only by timers of the waiting request's own. workerd hands a promise another
// request settles back to the waiting one, but under load the waiting request then ran on with
// the settling request's async context, and its next I/O failed with "Cannot perform I/O on
// behalf of a different request" (found in admission: README "Status"). A reaction on the shared
// promise only records the outcome; the request resumes from its own setTimeout.

const POLL_MS = 1;

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Resolves with the shared promise's value (or rejects with its error) once it has settled, or
 * resolves `undefined` after `timeoutMs` if it has not: the caller goes on without it.
 */
export async function settledOnOwnTimers<T>(shared: Promise<T>, options: { timeoutMs?: number } = {}): Promise<T | undefined> {
  let outcome: Settled<T> | null = null;
  shared.then(
    (value) => void (outcome = { ok: true, value }),
    (error: unknown) => void (outcome = { ok: false, error }),
  );
  const startedMs = Date.now();
  for (;;) {
    const settled = outcome as Settled<T> | null;
    if (settled !== null) {
      if (settled.ok) return settled.value;
      throw settled.error;
    }
    if (options.timeoutMs !== undefined && Date.now() - startedMs >= options.timeoutMs) return undefined;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
