// Holds this node's supplier credentials, in memory only: fetched sealed to the node's X25519 key
// (shared/sealed-credential.ts), refreshed in the background like the manifest (conditional
// fetch), opened with the node's private key, and looked up per route. Secrets never reach a
// log, an error, a usage event or storage; log lines name credential ids and reasons only.

import type { MiddlewareHandler } from 'hono';
import type { CryptoKey } from 'jose';
import type { RouteEntry } from '../shared/manifest.ts';
import { openCredential, SealedCredentialSet } from '../shared/sealed-credential.ts';
import { settledOnOwnTimers } from './own-timer-wait.ts';

export type CredentialFetchResult = { status: 'not_modified' } | { status: 'ok'; body: unknown; etag: string | null };

export interface CredentialStoreOptions {
  nodeId: string;
  /** The node's X25519 private key (NODE_ENCRYPTION_KEY). */
  privateKey: CryptoKey;
  /** One conditional GET of /node/v1/credentials; throws on network errors and unexpected statuses. */
  fetchCredentials: (etag: string | null) => Promise<CredentialFetchResult>;
  nowMs: () => number;
  refreshMs: number;
  /** How long a request waits for the very first set (default 2 s); later refreshes never block. */
  firstFetchLimitMs?: number;
  log?: (msg: string, fields?: Record<string, string | number>) => void;
}

type Held = { id: string; supplierId: string; version: string; isDefault: boolean; secret: string };

export interface CredentialStore {
  /** Refresh in the background when due; before the first successful fetch, wait for it (bounded). */
  keepFresh(waitUntil: (p: Promise<unknown>) => void): Promise<void>;
  refresh(): Promise<void>;
  /** The pinned credential's secret, or the supplier's default for an unpinned route; undefined when not held. */
  secretFor(route: Pick<RouteEntry, 'supplier_id' | 'credential_id'>): string | undefined;
}

export function createCredentialStore(options: CredentialStoreOptions): CredentialStore {
  let byId = new Map<string, Held>();
  let defaults = new Map<string, Held>();
  let etag: string | null = null;
  let loaded = false;
  let lastAttemptMs = -Infinity;
  let inflight: Promise<void> | null = null;
  const log = options.log ?? (() => {});

  async function fetchAndOpen(): Promise<void> {
    lastAttemptMs = options.nowMs();
    let result: CredentialFetchResult;
    try {
      result = await options.fetchCredentials(etag);
    } catch (err) {
      log('credential fetch failed', { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (result.status === 'not_modified') return;
    const parsed = SealedCredentialSet.safeParse(result.body);
    if (!parsed.success || parsed.data.node_id !== options.nodeId) {
      log('credential set rejected', { reason: parsed.success ? 'another node' : 'malformed' });
      return;
    }
    const nextById = new Map<string, Held>();
    const nextDefaults = new Map<string, Held>();
    let unopened = false;
    for (const entry of parsed.data.credentials) {
      const known = byId.get(entry.id);
      let secret: string;
      if (known && known.version === entry.version && known.supplierId === entry.supplier_id) {
        secret = known.secret; // unchanged: no need to open it again
      } else {
        const opened = await openCredential(entry.jwe, options.privateKey, {
          nodeId: options.nodeId,
          credentialId: entry.id,
          supplierId: entry.supplier_id,
          version: entry.version,
        });
        if (!opened.ok) {
          log('credential not opened', { credential_id: entry.id, reason: opened.reason });
          unopened = true;
          // Keep the last good secret of this credential rather than none, under its own version:
          // the new one was not opened, and the next fetch tries it again.
          if (!known) continue;
          nextById.set(known.id, { ...known, isDefault: entry.default });
          if (entry.default) nextDefaults.set(known.supplierId, nextById.get(known.id)!);
          continue;
        }
        secret = opened.secret;
      }
      const held: Held = { id: entry.id, supplierId: entry.supplier_id, version: entry.version, isDefault: entry.default, secret };
      nextById.set(held.id, held);
      if (held.isDefault) nextDefaults.set(held.supplierId, held);
    }
    byId = nextById;
    defaults = nextDefaults;
    // A set with a credential that could not be opened is asked for whole again next time (no
    // ETag), so a failed open is retried rather than skipped until the credential next changes.
    etag = unopened ? null : result.etag;
    loaded = true;
  }

  function refresh(): Promise<void> {
    inflight ??= fetchAndOpen().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  return {
    refresh,
    async keepFresh(waitUntil) {
      if (options.nowMs() - lastAttemptMs < options.refreshMs) return;
      const work = refresh();
      waitUntil(work);
      // The first fetch is shared by the node's first requests: resumed by this request's own timers.
      if (!loaded) await settledOnOwnTimers(work, { timeoutMs: options.firstFetchLimitMs ?? 2000 });
    },
    secretFor(route) {
      // A pinned route uses its own credential or none from here: silently sending another
      // account's key could bill or rate-limit the wrong contract.
      if (route.credential_id) return byId.get(route.credential_id)?.secret;
      return defaults.get(route.supplier_id)?.secret;
    },
  };
}


/** The credential for a route: sealed from the control plane if held, else the configured SUPPLIER_KEYS (local use). */
export function credentialFor(
  deps: { credentials?: CredentialStore | undefined; supplierKeys: Readonly<Record<string, string>> },
  route: Pick<RouteEntry, 'supplier_id' | 'credential_id'>,
): string | undefined {
  return deps.credentials?.secretFor(route) ?? deps.supplierKeys[route.supplier_id];
}

/** Middleware: keeps the store fresh on traffic (Workers have no background timers). */
export function keepCredentialsFresh(deps: { credentials?: CredentialStore | undefined }): MiddlewareHandler {
  return async (c, next) => {
    if (deps.credentials) await deps.credentials.keepFresh((p) => c.executionCtx.waitUntil(p));
    await next();
  };
}
